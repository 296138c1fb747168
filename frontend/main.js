// Wiring: state (mirrored in the URL) -> data from the API -> the 3-D, contour and 1-D views and the
// panels. Everything the page shows is redrawn from `state` and the loaded meshes by redraw().

import * as api from './api.js';
import { AxesFrame } from './axes.js';
import { COLORMAPS, drawColorBar } from './colormap.js';
import { GridData } from './griddata.js';
import { JobPanel } from './jobform.js';
import { LiveJobs } from './livejobs.js';
import { h, renderCatalog, renderDetails, renderLayers, renderPresets } from './panels.js';
import { LineView } from './lineview.js';
import { MapView } from './mapview.js';
import { nearestIndex } from './plot-canvas.js';
import { XYFrame, ZScale, formatNumber } from './scale.js';
import { Viewport3D } from './scene.js';
import { SurfaceMesh } from './surface-mesh.js';
import { installTestHook } from './testhook.js';
import { Tooltip } from './tooltip.js';
import { readState, writeState } from './urlstate.js';
import { exportPNG } from './export.js';

const PALETTE = [ '#4cc9f0', '#f72585', '#ffd166', '#06d6a0', '#ff8c42', '#b197fc', '#e9ecef', '#ef476f' ];
const $ = ( id ) => document.getElementById( id );

class App {

	constructor() {

		this.state = readState( location.search );
		this.catalog = [];
		this.layers = new Map(); // id -> {id, mesh, color, opacity}
		this.meshes = []; // SurfaceMesh objects drawn now
		this.cursor = null; // {id, ix, iy}: last grid point hovered in 3-D or map (the slice goes through it)
		this.hover = null;
		this.errors = [];
		this.ready = false;
		this.pending = 0;
		this.tooltip = new Tooltip( $( 'tooltip' ) );
		this.viewport = new Viewport3D( $( 'view-3d' ), () => this._cameraMoved() );
		if ( this.state.camera ) this.viewport.setCamera( this.state.camera );
		this.axes = new AxesFrame();
		this.mapView = new MapView( $( 'view-map' ) );
		this.lineView = new LineView( $( 'view-1d' ) );
		this.live = null; // LiveJobs, once /api/config is known
		new ResizeObserver( () => this.state.view !== '3d' && this.drawFlat() ).observe( $( 'viewport' ) );
		installTestHook( this );

	}

	async start() {

		this._bindControls();
		try {

			this.setStatus( 'Loading the catalog…' );
			[ this.config, this.catalog ] = await Promise.all( [ api.getConfig(), api.listSurfaces() ] );
			this.live = new LiveJobs( this, new JobPanel( $( 'job-form' ), $( 'jobs' ), this.config, {
				submit: ( request, token ) => this.live.submit( request, token ),
				cancel: ( id, token ) => this.live.cancel( id, token ),
				show: ( id ) => this.setIds( [ id ] ),
			} ) );
			this.renderPresets();
			if ( ! this.state.ids.length ) Object.assign( this.state, this._defaultView() );
			await this.load();

		} catch ( e ) {

			this.showError( e );
			this.setStatus( 'The viewer could not start. See the message above.' );
			this.ready = true;

		}

	}

	_following( id ) {

		return Boolean( this.live && this.live.following( id ) );

	}

	renderPresets() {

		renderPresets( $( 'presets' ), this.catalog, ( ids ) => this.setIds( ids ) );

	}

	/** (Re)load one surface's mesh from the server and redraw; quiet while its job has written nothing. */
	async reloadLayer( id ) {

		if ( ! this.state.ids.includes( id ) ) return;
		const first = ! this.layers.has( id );
		try {

			this._addLayer( await api.getMesh( id ) );

		} catch ( e ) {

			if ( e.status !== 404 || ! this._following( id ) ) this.showError( e );
			return;

		}

		if ( first ) this._preferLineView();
		this.redraw();

	}

	_defaultView() {

		// The paper's headline first: the finest gallery surface of a model whose shortcut-free twin is
		// there too, both overlaid on a log scale (the no-shortcut loss reaches hundreds).
		const twoD = this.catalog.filter( ( s ) => s.ndim === 2 );
		const byId = new Map( twoD.map( ( s ) => [ s.id, s ] ) );
		const pairs = twoD.filter( ( s ) => s.gallery?.shortcuts && byId.has( s.gallery.pair ) );
		pairs.sort( ( a, b ) => b.points_total - a.points_total );
		if ( pairs.length ) return { ids: [ pairs[ 0 ].id, pairs[ 0 ].gallery.pair ], log: true };
		const first = twoD.find( ( s ) => s.source === 'gallery' ) || twoD[ 0 ] || this.catalog[ 0 ];
		return { ids: first ? [ first.id ] : [] };

	}

	_bindControls() {

		for ( const button of document.querySelectorAll( '[data-view]' ) ) {

			button.addEventListener( 'click', () => this.update( { view: button.dataset.view } ) );

		}

		$( 'cmap' ).replaceChildren( ...COLORMAPS.map( ( name ) => h( 'option', { value: name }, name ) ) );
		$( 'metric' ).addEventListener( 'change', ( e ) => this.update( { metric: e.target.value } ) );
		$( 'cmap' ).addEventListener( 'change', ( e ) => this.update( { cmap: e.target.value } ) );
		$( 'wireframe' ).addEventListener( 'change', ( e ) => this.update( { wireframe: e.target.checked } ) );
		$( 'logz' ).addEventListener( 'change', ( e ) => this.update( { log: e.target.checked } ) );
		$( 'slice' ).addEventListener( 'change', ( e ) => this.update( { slice: e.target.value } ) );
		$( 'vmax' ).addEventListener( 'change', ( e ) => {

			const text = e.target.value.trim();
			const v = text === '' ? null : Number( text );
			if ( v !== null && ! Number.isFinite( v ) ) return this.showError( `vmax must be a number, got ${ text }` );
			this.update( { vmax: v } );

		} );
		$( 'catalog-filter' ).addEventListener( 'input', () => this.renderCatalog() );
		$( 'reset-view' ).addEventListener( 'click', () => {

			this.viewport.resetView();
			this._cameraMoved();

		} );
		$( 'export-png' ).addEventListener( 'click', () => exportPNG( this.exportSources() ).catch( ( e ) => this.showError( e ) ) );
		$( 'copy-link' ).addEventListener( 'click', () => {

			this.writeURL();
			navigator.clipboard?.writeText( location.href ).then( () => this.setStatus( 'Link copied.', 1500 ), () => this.setStatus( location.href, 4000 ) );

		} );
		$( 'error' ).querySelector( 'button' ).addEventListener( 'click', () => this.clearError() );
		const vp = $( 'viewport' );
		let queued = null;
		vp.addEventListener( 'pointermove', ( e ) => {

			if ( e.buttons ) return this.tooltip.hide(); // dragging the camera
			const first = ! queued;
			queued = e;
			if ( first ) requestAnimationFrame( () => {

				this.hoverAt( queued.clientX, queued.clientY, queued.target );
				queued = null;

			} );

		} );
		vp.addEventListener( 'pointerleave', () => this.clearHover() );
		window.addEventListener( 'error', ( e ) => this.showError( e.error || e.message ) );
		window.addEventListener( 'unhandledrejection', ( e ) => this.showError( e.reason ) );

	}

	update( changes ) {

		Object.assign( this.state, changes );
		this.redraw();

	}

	setIds( ids ) {

		this.state.ids = [ ...new Set( ids ) ];
		this.load();

	}

	/** Fetch the meshes of the selected surfaces not loaded yet, then redraw. */
	async load() {

		this.ready = false;
		// A job's surface is fetched once its first points exist (see _progress), not before.
		const missing = this.state.ids.filter( ( id ) => ! this.layers.has( id ) && ! this._following( id ) );
		if ( missing.length ) this.setStatus( `Loading ${ missing.length } surface${ missing.length > 1 ? 's' : '' }…` );
		this.pending ++;
		const results = await Promise.allSettled( missing.map( ( id ) => api.getMesh( id ) ) );
		this.pending --;
		results.forEach( ( result, k ) => {

			if ( result.status === 'fulfilled' ) this._addLayer( result.value );
			else {

				this.showError( result.reason );
				this.state.ids = this.state.ids.filter( ( id ) => id !== missing[ k ] );

			}

		} );
		for ( const id of [ ...this.layers.keys() ] ) if ( ! this.state.ids.includes( id ) ) this.layers.delete( id );
		if ( missing.length ) this._preferLineView();
		this.redraw();

	}

	/** Newly shown surfaces that are all 1-D have nothing to show in 3-D: switch to the 1-D view. */
	_preferLineView() {

		const loaded = this.state.ids.map( ( id ) => this.layers.get( id ) ).filter( Boolean );
		if ( loaded.length && loaded.every( ( l ) => l.mesh.ndim === 1 ) ) this.state.view = '1d';

	}

	_addLayer( mesh ) {

		const used = new Set( [ ...this.layers.values() ].map( ( l ) => l.color ) );
		const previous = this.layers.get( mesh.id );
		this.layers.set( mesh.id, {
			id: mesh.id, mesh,
			color: this.state.colors[ mesh.id ] || previous?.color || PALETTE.find( ( c ) => ! used.has( c ) ) || PALETTE[ this.layers.size % PALETTE.length ],
			opacity: this.state.opacities[ mesh.id ] ?? previous?.opacity ?? 1,
		} );

	}

	/** The shown layers in selection order, with their grids for the current metric. */
	_shown() {

		const loaded = this.state.ids.map( ( id ) => this.layers.get( id ) ).filter( Boolean );
		const metrics = [ ...new Set( loaded.flatMap( ( l ) => Object.keys( l.mesh.metrics ) ) ) ];
		if ( ! metrics.includes( this.state.metric ) ) this.state.metric = metrics.includes( 'train_loss' ) ? 'train_loss' : metrics[ 0 ] || null;
		const metric = this.state.metric;
		const shown = loaded.filter( ( l ) => metric && l.mesh.metrics[ metric ] ).map( ( l ) => ( { ...l, name: l.mesh.name, grid: new GridData( l.mesh, metric ) } ) );
		return { loaded, metrics, shown };

	}

	/** Rebuild every view from the state and the loaded meshes. */
	redraw() {

		const { loaded, metrics, shown } = this._shown();
		const { state } = this;
		this.shown = shown;
		const values = shown.map( ( l ) => l.grid.display );
		this.zscale = new ZScale( values, { log: state.log, vmax: state.vmax } );
		if ( state.vmax !== null && this.zscale.min !== null && state.vmax <= this.zscale.min ) {

			this.showError( `vmax ${ formatNumber( state.vmax ) } is not above the lowest ${ state.metric } shown (${ formatNumber( this.zscale.min ) }); clipping is off` );
			state.vmax = null;
			$( 'vmax' ).value = '';
			this.zscale = new ZScale( values, { log: state.log, vmax: null } );

		}

		this.frame = new XYFrame( shown.map( ( l ) => l.grid ) );
		const colorMode = shown.length === 1 ? 'map' : 'solid';
		for ( const m of this.meshes ) m.dispose();
		this.meshes = shown.map( ( l ) => new SurfaceMesh( l.grid, this.frame, this.zscale, {
			color: l.color, opacity: l.opacity, colorMode, cmap: state.cmap, wireframe: state.wireframe,
		} ) );
		this.axes.update( this.frame, this.zscale, state.metric || '' );
		this.viewport.setContent( [ this.axes.group, ...this.meshes.map( ( m ) => m.object ) ] );

		$( 'metric' ).replaceChildren( ...metrics.map( ( m ) => h( 'option', { value: m, selected: m === state.metric }, m.replace( '_', ' ' ) ) ) );
		$( 'cmap' ).value = state.cmap;
		$( 'wireframe' ).checked = state.wireframe;
		$( 'logz' ).checked = state.log;
		$( 'slice' ).value = state.slice;
		if ( document.activeElement !== $( 'vmax' ) ) $( 'vmax' ).value = state.vmax ?? '';
		for ( const b of document.querySelectorAll( '[data-view]' ) ) b.setAttribute( 'aria-selected', String( b.dataset.view === state.view ) );
		$( 'view-3d' ).hidden = state.view !== '3d';
		$( 'view-map' ).hidden = state.view !== 'map';
		$( 'view-1d' ).hidden = state.view !== '1d';
		$( 'reset-view' ).disabled = state.view !== '3d';
		const showBar = colorMode === 'map' && state.view !== '1d' && ! this.zscale.empty;
		$( 'colorbar' ).hidden = ! showBar;
		if ( showBar ) drawColorBar( $( 'colorbar' ).querySelector( 'canvas' ), state.cmap, this.zscale, state.metric );
		this._title( shown );
		this.drawFlat();

		renderLayers( $( 'layers' ), loaded.map( ( l ) => ( { ...l, name: l.mesh.name } ) ), {
			onColor: ( id, color ) => this._style( id, { color } ),
			onOpacity: ( id, opacity ) => this._style( id, { opacity } ),
			onRemove: ( id ) => this.setIds( state.ids.filter( ( x ) => x !== id ) ),
		} );
		renderDetails( $( 'details' ), loaded.map( ( l ) => ( { summary: l.mesh.summary, recipe: l.mesh.recipe, color: l.color } ) ) );
		this.renderCatalog();
		this._progressNote( shown );
		this.writeURL();
		this.viewport.renderNow();
		this.ready = this.pending === 0;

	}

	_style( id, change ) {

		const layer = this.layers.get( id );
		Object.assign( layer, change );
		if ( change.color ) this.state.colors[ id ] = change.color;
		if ( change.opacity !== undefined ) this.state.opacities[ id ] = change.opacity;
		this.redraw();

	}

	_title( shown ) {

		const metric = this.state.metric ? this.state.metric.replace( '_', ' ' ) : '';
		$( 'title' ).replaceChildren(
			...shown.map( ( l ) => h( 'div', { class: 'layer-title', style: `--swatch: ${ l.color }` }, l.name ) ),
			shown.length ? h( 'div', { class: 'muted' }, `${ metric }${ this.state.log ? ', log scale' : '' }${ this.state.vmax !== null ? `, clipped at ${ formatNumber( this.state.vmax ) }` : '' }` ) : null,
		);

	}

	_progressNote( shown ) {

		const partial = shown.filter( ( l ) => ! l.grid.complete );
		const lacking = this.state.ids.map( ( id ) => this.layers.get( id ) ).filter( ( l ) => l && ! l.mesh.metrics[ this.state.metric ] );
		const waiting = this.state.ids.filter( ( id ) => ! this.layers.has( id ) && this._following( id ) );
		if ( waiting.length ) this.setStatus( `Waiting for the first points of ${ waiting.join( ', ' ) }…` );
		else if ( lacking.length ) this.setStatus( `${ lacking.map( ( l ) => l.mesh.name ).join( ', ' ) }: no ${ this.state.metric } in the file, not drawn` );
		else if ( ! shown.length ) this.setStatus( this.catalog.length ? 'No surface selected: tick one on the left.' : 'No surfaces yet: compute one under “New surface”.' );
		else if ( partial.length ) this.setStatus( partial.map( ( l ) => `${ l.name }: ${ l.grid.pointsDone } of ${ l.grid.nx * l.grid.ny } points${ l.grid.coarseLevel !== null ? ' (coarse preview)' : '' }` ).join( ' · ' ) );
		else this.setStatus( null );

	}

	renderCatalog() {

		renderCatalog( $( 'catalog' ), this.catalog, this.state.ids, $( 'catalog-filter' ).value, {
			onToggle: ( id, on ) => this.setIds( on ? [ ...this.state.ids, id ] : this.state.ids.filter( ( x ) => x !== id ) ),
			onSolo: ( id ) => this.setIds( [ id ] ),
		} );
		$( 'catalog-count' ).textContent = `(${ this.catalog.length })`;

	}

	/** The contour map or the 1-D plot, whichever is shown. */
	drawFlat() {

		if ( ! this.shown ) return;
		const { state, shown, zscale } = this;
		if ( state.view === 'map' ) {

			this.mapView.draw( { layers: shown.map( ( l ) => ( { ...l, style: { color: l.color } } ) ), zscale, frame: this.frame, cmap: state.cmap, cursor: this.cursor } );

		} else if ( state.view === '1d' ) {

			this.lineView.draw( { ...this._curves(), zscale, ylabel: `${ state.metric }${ state.log ? ' (log)' : '' }`, cursor: this.lineCursor } );

		}

	}

	/** 1-D surfaces as they are; 2-D surfaces sliced through the cursor (or through 0). */
	_curves() {

		const along = this.state.slice;
		const at = this.cursor && this.layers.has( this.cursor.id ) ? this.shown.find( ( l ) => l.id === this.cursor.id ) : null;
		const through = at ? ( along === 'x' ? at.grid.y[ this.cursor.iy ] : at.grid.x[ this.cursor.ix ] ) : 0;
		const curves = this.shown.map( ( l ) => {

			const g = l.grid;
			if ( g.ndim === 1 ) return { id: l.id, name: l.name, color: l.color, coords: g.x, values: g.display, done: g.done, toGrid: ( i ) => ( { ix: i, iy: 0 } ) };
			if ( along === 'x' ) {

				const iy = nearestIndex( g.y, through );
				const row = ( a ) => a.slice( iy * g.nx, ( iy + 1 ) * g.nx );
				return { id: l.id, name: `${ l.name } (y = ${ formatNumber( g.y[ iy ] ) })`, color: l.color, coords: g.x, values: row( g.display ), done: row( g.done ), toGrid: ( i ) => ( { ix: i, iy } ) };

			}

			const ix = nearestIndex( g.x, through );
			const col = ( a ) => Array.from( { length: g.ny }, ( _, j ) => a[ j * g.nx + ix ] );
			return { id: l.id, name: `${ l.name } (x = ${ formatNumber( g.x[ ix ] ) })`, color: l.color, coords: g.y, values: Float64Array.from( col( g.display ) ), done: col( g.done ), toGrid: ( j ) => ( { ix, iy: j } ) };

		} );
		const twoD = this.shown.some( ( l ) => l.grid.ndim === 2 );
		return {
			curves,
			xlabel: along === 'y' && twoD ? 'y' : 'x',
			note: twoD ? `slice along ${ along } through ${ along === 'x' ? 'y' : 'x' } = ${ formatNumber( through ) } (hover the 3-D or contour view to move it)` : '',
		};

	}

	/** Tooltip for whatever grid point lies under the pointer, from the data. */
	hoverAt( clientX, clientY, target ) {

		if ( ! this.shown || ( target && target.closest && target.closest( '.tooltip, .error, .colorbar' ) ) ) return;
		let hit = null;
		if ( this.state.view === '3d' ) {

			const found = this.viewport.pick( clientX, clientY );
			if ( found ) {

				const mesh = found.object.userData.surface;
				hit = { layer: this.shown.find( ( l ) => l.grid === mesh.grid ), ...mesh.gridIndexOf( found ) };

			}

		} else if ( this.state.view === 'map' ) {

			hit = this.mapView.pick( clientX, clientY );

		} else {

			const found = this.lineView.pick( clientX, clientY );
			if ( found ) {

				hit = { layer: this.shown.find( ( l ) => l.id === found.curve.id ), ...found.curve.toGrid( found.i ) };
				this.lineCursor = { id: found.curve.id, i: found.i };

			}

		}

		if ( ! hit || ! hit.layer ) return this.clearHover();
		this.showHover( hit.layer, hit.ix, hit.iy, clientX, clientY );

	}

	showHover( layer, ix, iy, clientX, clientY ) {

		const g = layer.grid;
		const { value, done } = g.at( ix, iy );
		const metric = this.state.metric;
		let text = formatNumber( value, 6 );
		if ( ! done ) text = `pending (≈ ${ formatNumber( g.display[ iy * g.nx + ix ], 4 ) })`;
		else if ( Number.isNaN( value ) ) text = 'not finite (gap)';
		else if ( this.zscale.clipped( value ) ) text += ' (above vmax)';
		const rows = [ [ 'x', 'x', formatNumber( g.x[ ix ], 6 ) ] ];
		if ( g.ndim === 2 ) rows.push( [ 'y', 'y', formatNumber( g.y[ iy ], 6 ) ] );
		rows.push( [ 'value', metric, text ] );
		for ( const other of Object.keys( layer.mesh.metrics ) ) {

			if ( other === metric ) continue;
			const rowsOf = layer.mesh.metrics[ other ];
			const v = g.ndim === 2 ? rowsOf[ iy ][ ix ] : rowsOf[ ix ];
			rows.push( [ other, other, done ? formatNumber( v, 6 ) : 'pending' ] );

		}

		rows.push( [ 'index', 'grid index', g.ndim === 2 ? `ix ${ ix }, iy ${ iy }` : `ix ${ ix }` ] );
		this.tooltip.show( clientX, clientY, { title: layer.name, color: layer.color, rows } );
		this.hover = { id: layer.id, ix, iy, x: g.x[ ix ], y: g.ndim === 2 ? g.y[ iy ] : null, value: Number.isNaN( value ) ? null : value, done };
		if ( this.state.view !== '1d' ) {

			this.cursor = { id: layer.id, ix, iy };
			if ( this.state.view === '3d' ) {

				const mesh = this.meshes.find( ( m ) => m.grid === g );
				this.viewport.setMarker( mesh ? mesh.vertexPosition( ix, iy ) : null );

			} else this.drawFlat();

		} else this.drawFlat();

	}

	clearHover() {

		this.tooltip.hide();
		this.hover = null;
		this.viewport?.setMarker( null ); // the viewport's first camera change comes while it is built

	}

	/** Client position of grid point (ix, iy) of surface ``id`` in the current view (``visible``: not
	 * hidden behind another part of a surface), or null when it is not drawn. */
	vertexScreen( id, ix, iy ) {

		if ( this.state.view === '3d' ) {

			const mesh = this.meshes.find( ( m ) => m.grid.id === id );
			const world = mesh ? mesh.vertexPosition( ix, iy ) : null;
			if ( ! world ) return null;
			const exact = this.viewport.project( world );
			const at = { x: Math.round( exact.x ), y: Math.round( exact.y ) }; // where a mouse can point
			const hit = this.viewport.pick( at.x, at.y ); // the vertex may hide behind a nearer part of a surface
			const seen = hit && hit.object === mesh.object ? mesh.gridIndexOf( hit ) : null;
			return { ...at, visible: Boolean( seen && seen.ix === ix && seen.iy === iy ) };

		}

		if ( this.state.view === 'map' ) return this.mapView.project( id, ix, iy );
		const layer = this.shown.find( ( l ) => l.id === id );
		if ( ! layer ) return null;
		if ( layer.grid.ndim === 1 ) return this.lineView.project( id, ix );
		return this.lineView.project( id, this.state.slice === 'x' ? ix : iy );

	}

	exportSources() {

		const view = this.state.view;
		const main = view === '3d' ? this.viewport.snapshot() : $( view === 'map' ? 'view-map' : 'view-1d' );
		const bar = $( 'colorbar' ).hidden ? null : $( 'colorbar' ).querySelector( 'canvas' );
		const names = this.shown.map( ( l ) => ( { name: l.name, color: l.color } ) );
		const file = `lossatlas-${ this.state.ids.join( '+' ) || 'view' }-${ this.state.metric || '' }.png`;
		return { main, bar, names, caption: $( 'title' ).querySelector( '.muted' )?.textContent || '', file };

	}

	_cameraMoved() {

		this.clearHover();
		clearTimeout( this._cameraTimer );
		this._cameraTimer = setTimeout( () => this.writeURL(), 250 );

	}

	writeURL() {

		this.state.camera = this.viewport.getCamera();
		const colors = {}, opacities = {};
		for ( const [ id, layer ] of this.layers ) {

			colors[ id ] = layer.color;
			opacities[ id ] = layer.opacity;

		}

		Object.assign( this.state, { colors, opacities } );
		history.replaceState( null, '', writeState( this.state ) );

	}

	setStatus( text, clearAfter ) {

		const el = $( 'status' );
		el.hidden = ! text;
		el.textContent = text || '';
		clearTimeout( this._statusTimer );
		if ( clearAfter ) this._statusTimer = setTimeout( () => ( el.hidden = true ), clearAfter );

	}

	clearError() {

		$( 'error' ).hidden = true;

	}

	showError( error ) {

		const message = error instanceof Error ? error.message : String( error );
		this.errors.push( message );
		const el = $( 'error' );
		el.querySelector( '.msg' ).textContent = message;
		el.hidden = false;

	}

}

const app = new App();
app.start();
