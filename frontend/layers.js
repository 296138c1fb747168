// The layer store: the catalog, which surfaces are selected (in order), their loaded meshes and their
// styles. Panels, live jobs and the URL talk to it; it tells listeners what changed through one
// 'change' event whose detail.kind is 'loading' | 'select' | 'data' | 'style' | 'catalog'. Style
// changes never need new geometry; selection and data do.

import * as api from './api.js';
import { differenceMesh, differenceParts, isDifference } from './compare.js';

/** Layer colours: Okabe and Ito's colour-blind-safe set plus four more, chosen to stay apart on the
 * dark background (every pair differs by CIE76 ΔE > 25; tests/frontend check it). */
export const PALETTE = [ '#56b4e9', '#e69f00', '#009e73', '#f0e442', '#d55e00', '#cc79a7', '#f2f2f2', '#8c6bff', '#7ddc1f', '#ff4f7b', '#00c2c2', '#b0703c' ];

export class LayerStore extends EventTarget {

	/**
	 * @param {{colors: object, opacities: object}} initial colours and opacities asked for (the URL)
	 * @param {import('./status.js').StatusLine} status
	 */
	constructor( initial, status ) {

		super();
		this.status = status;
		this.catalog = [];
		this.ids = [];
		this.layers = new Map(); // id -> {id, mesh, color, opacity}
		this._meshes = new Map(); // meshes fetched from the server (a difference layer is built from two)
		this.jobTitles = new Map(); // surface id -> title of a followed job (before its file exists)
		this.waiting = new Set(); // surface ids of followed jobs that have no file yet
		this.pending = 0; // fetches in flight
		this._asked = { colors: { ...initial.colors }, opacities: { ...initial.opacities } };

	}

	_emit( kind, id = null ) {

		this.dispatchEvent( new CustomEvent( 'change', { detail: { kind, id } } ) );

	}

	setCatalog( surfaces ) {

		this.catalog = surfaces;
		this._emit( 'catalog' );

	}

	async refreshCatalog() {

		try {

			this.setCatalog( await api.listSurfaces() );

		} catch ( e ) {

			this.status.error( e );

		}

	}

	/** Select surfaces (repeats dropped) and load what is missing. */
	select( ids ) {

		this.ids = [ ...new Set( ids ) ];
		return this.load();

	}

	toggle( id, on ) {

		return this.select( on ? [ ...this.ids, id ] : this.ids.filter( ( x ) => x !== id ) );

	}

	/** Fetch the meshes of the selected surfaces not loaded yet (a followed job's once it has points). */
	async load() {

		const wanted = new Set( this.ids.flatMap( ( id ) => ( isDifference( id ) ? differenceParts( id ) : [ id ] ) ) );
		const missing = [ ...wanted ].filter( ( id ) => ! this._mesh( id ) && ! this.waiting.has( id ) );
		if ( missing.length ) this.status.set( `Loading ${ missing.length } surface${ missing.length > 1 ? 's' : '' }…` );
		this.pending ++;
		this._emit( 'loading' );
		const results = await Promise.allSettled( missing.map( ( id ) => api.getMesh( id ) ) );
		this.pending --;
		const failed = new Set();
		results.forEach( ( result, k ) => {

			if ( result.status === 'fulfilled' ) this._meshes.set( missing[ k ], result.value );
			else {

				this.status.error( result.reason );
				failed.add( missing[ k ] );

			}

		} );
		this.ids = this.ids.filter( ( id ) => ! ( isDifference( id ) ? differenceParts( id ) : [ id ] ).some( ( p ) => failed.has( p ) ) );
		this._sync();
		this._emit( 'select' );

	}

	_mesh( id ) {

		return this._meshes.get( id ) || null;

	}

	/** Layers for the selected ids whose data is here; drop the rest; rebuild difference layers. */
	_sync() {

		for ( const id of this.ids ) {

			let mesh = null;
			if ( isDifference( id ) ) {

				const [ a, b ] = differenceParts( id ).map( ( p ) => this._mesh( p ) );
				if ( ! a || ! b ) continue;
				mesh = differenceMesh( a, b );
				if ( mesh.error ) {

					this.status.error( mesh.error );
					this.ids = this.ids.filter( ( x ) => x !== id );
					continue;

				}

			} else mesh = this._mesh( id );
			if ( mesh ) this._put( mesh );

		}

		for ( const id of [ ...this.layers.keys() ] ) if ( ! this.ids.includes( id ) ) this.layers.delete( id );
		const used = new Set( this.ids );
		for ( const id of [ ...this._meshes.keys() ] ) {

			if ( ! [ ...used ].some( ( u ) => u === id || ( isDifference( u ) && differenceParts( u ).includes( id ) ) ) ) this._meshes.delete( id );

		}

	}

	_put( mesh ) {

		const previous = this.layers.get( mesh.id );
		const used = new Set( [ ...this.layers.values() ].map( ( l ) => l.color ) );
		const color = previous?.color || this._asked.colors[ mesh.id ] || PALETTE.find( ( c ) => ! used.has( c ) ) || PALETTE[ this.layers.size % PALETTE.length ];
		this.layers.set( mesh.id, { id: mesh.id, mesh, color, opacity: previous?.opacity ?? this._asked.opacities[ mesh.id ] ?? 1 } );

	}

	/** (Re)fetch one surface from the server (a followed job's surface as it grows or ends). */
	async reload( id ) {

		if ( ! this._wants( id ) ) return;
		try {

			this._meshes.set( id, await api.getMesh( id ) );

		} catch ( e ) {

			if ( e.status !== 404 || ! this.waiting.has( id ) ) this.status.error( e );
			return;

		}

		this.waiting.delete( id );
		this._sync();
		this._emit( 'data', id );

	}

	_wants( id ) {

		return this.ids.some( ( u ) => u === id || ( isDifference( u ) && differenceParts( u ).includes( id ) ) );

	}

	/** New points of a loaded surface (a live job): patch its mesh in place with ``patch(mesh)``;
	 * ``quiet``: tell listeners later with changed(). False when the mesh is not loaded. */
	patch( id, patch, { quiet = false } = {} ) {

		const mesh = this._mesh( id );
		if ( ! mesh ) return false;
		patch( mesh );
		if ( ! quiet ) this.changed( 'data', id );
		return true;

	}

	/** Tell listeners that surface ``id`` changed (``kind`` 'data') after quiet patches. */
	changed( kind, id ) {

		this._sync();
		this._emit( kind, id );

	}

	/** Colour or opacity of one layer: no geometry changes. */
	style( id, change ) {

		const layer = this.layers.get( id );
		if ( ! layer ) return;
		Object.assign( layer, change );
		this._emit( 'style', id );

	}

	/** Selected ids with their layer (or null while loading/waiting), in order. */
	get selected() {

		return this.ids.map( ( id ) => ( { id, layer: this.layers.get( id ) || null } ) );

	}

	/** A surface's title: its layer's name, the catalog's, or (a job waiting for its first points) the job's. */
	title( id ) {

		if ( this.layers.has( id ) ) return this.layers.get( id ).mesh.name || id;
		if ( isDifference( id ) ) return differenceParts( id ).map( ( p ) => this.title( p ) ).join( ' − ' );
		return this.catalog.find( ( s ) => s.id === id )?.name || this.jobTitles.get( id ) || id;

	}

}
