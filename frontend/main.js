// Wiring: the URL state and the layer store -> the 3-D, contour and 1-D views and the panels.
// Geometry is rebuilt when data, selection, metric or scale change (rebuild); colours, opacity,
// wireframe and colour map are restyled in place (restyle).

import * as api from './api.js';
import { AxesFrame } from './axes.js';
import { axisNames, metricName, metricText, nanText } from './captions.js';
import { DIFF } from './compare.js';
import { bindControls, closeDrawers, showControls } from './controls.js';
import { DRAPE_CMAP, RATIO, RATIO_LABEL, RatioScale, drapeTint, ratioGrids } from './curvature.js';
import { $, h, setValue } from './dom.js';
import { GridData } from './griddata.js';
import { Hover } from './hover.js';
import { JobPanel } from './jobform.js';
import { LayerStore } from './layers.js';
import { LineView } from './lineview.js';
import { LiveJobs } from './livejobs.js';
import { MapView } from './mapview.js';
import { fitPanes, placeColorBar, plotInset, showColorBar, showProgress, showTitle } from './overlays.js';
import { renderCatalog, renderDetails, renderDifference, renderLayers, renderPresets } from './panels.js';
import { XYFrame, ZScale, formatNumber, isAccuracy } from './scale.js';
import { Viewport3D } from './scene.js';
import { sliceCurves } from './slices.js';
import { StatusLine } from './status.js';
import { SurfaceMesh } from './surface-mesh.js';
import { installTestHook } from './testhook.js';
import { Tooltip } from './tooltip.js';
import { PathObject, pathsOf, placeLabels3d } from './trajectory.js';
import { readState, writeState } from './urlstate.js';

const STYLE_KEYS = [ 'wireframe', 'cmap' ]; // display settings that need no new geometry

class App {

	constructor() {

		this.status = new StatusLine();
		this.state = readState( location.search );
		this.store = new LayerStore( this.state, this.status );
		this.meshes = []; // SurfaceMesh objects drawn now
		this.paths = []; // training paths of the shown PCA surfaces (trajectory.js pathsOf)
		this.pathObjects = []; // their 3-D objects
		this.shown = null;
		this.ready = false;
		this.tooltip = new Tooltip( $( 'tooltip' ) );
		this.hover = new Hover( this );
		this.viewport = new Viewport3D( $( 'view-3d' ), () => this.cameraMoved() );
		this.pathLabels3d = []; // where placeLabels3d put the paths' labels for the last frame
		this.viewport.beforeRender = () => ( this.pathLabels3d = placeLabels3d( this.pathObjects, this.viewport ) );
		this.axes = new AxesFrame();
		this.mapView = new MapView( $( 'view-map' ) );
		this.lineView = new LineView( $( 'view-1d' ) );
		this.live = null; // LiveJobs, once /api/config is known
		this._metrics = '';
		new ResizeObserver( () => ( this.state.view === '3d' ? fitPanes( this ) : this.drawFlat() ) ).observe( $( 'viewport' ) );
		this.store.addEventListener( 'change', ( e ) => this._changed( e.detail ) );
		installTestHook( this );

	}

	async start() {

		bindControls( this );
		for ( const warning of this.state.warnings ) this.status.notice( warning );
		if ( this.state.camera && ! this.viewport.setCamera( this.state.camera ) ) {

			this.status.notice( `the link’s camera (cam=${ this.state.camera.join( ',' ) }) shows nothing: the default view is used` );
			this.state.camera = null;

		}

		try {

			this.status.set( 'Loading the catalog…' );
			const [ config, catalog ] = await Promise.all( [ api.getConfig(), api.listSurfaces() ] );
			this.config = config;
			this.store.setCatalog( catalog );
			const panel = new JobPanel( $( 'job-form' ), $( 'jobs' ), config, {
				submit: async ( request, token ) => ( await this.live.submit( request, token ) ) && closeDrawers( this ), // a phone shows the new surface
				cancel: ( id, token ) => this.live.cancel( id, token ),
				show: ( id ) => this.store.select( [ id ] ),
				upload: ( file, model, token ) => api.uploadCheckpoint( file, model, token ),
				error: ( e ) => this.status.error( e ),
			} );
			this.live = new LiveJobs( this.store, panel, this.status, () => this.writeURL() );
			if ( this.state.jobs.length ) {

				$( 'job-section' ).open = true;
				await this.live.resume( this.state.jobs );

			}

			if ( ! this.state.ids.length ) Object.assign( this.state, this._defaultView() );
			this.started = true; // from now on the URL follows the store
			await this.store.select( this.state.ids );

		} catch ( e ) {

			this.status.error( e );
			this.status.set( 'The viewer could not start. See the message above.' );
			this.ready = true;

		}

	}

	_defaultView() {

		// The paper's headline first: the finest gallery surface of a model whose shortcut-free twin is
		// there too, both overlaid on a log scale (the no-shortcut loss reaches hundreds).
		const twoD = this.store.catalog.filter( ( s ) => s.ndim === 2 );
		const byId = new Map( twoD.map( ( s ) => [ s.id, s ] ) );
		const pairs = twoD.filter( ( s ) => s.gallery?.shortcuts && byId.has( s.gallery.pair ) );
		pairs.sort( ( a, b ) => b.points_total - a.points_total );
		if ( pairs.length ) return { ids: [ pairs[ 0 ].id, pairs[ 0 ].gallery.pair ], log: ! isAccuracy( this.state.metric ) };
		const first = twoD.find( ( s ) => s.source === 'gallery' ) || twoD[ 0 ] || this.store.catalog[ 0 ];
		return { ids: first ? [ first.id ] : [] };

	}

	_changed( { kind, id } ) {

		if ( kind === 'loading' ) {

			this.ready = false;
			return;

		}

		if ( kind === 'style' ) return this.restyle( id );
		if ( kind === 'catalog' ) {

			renderPresets( $( 'presets' ), this.store.catalog, ( ids ) => this.show( ids ) );
			return this.renderCatalog();

		}

		this.state.ids = this.store.ids;
		if ( kind === 'select' ) this._preferLineView();
		this.rebuild();

	}

	/** Change display settings: colour map and wireframe in place, the rest with new geometry. */
	update( changes ) {

		Object.assign( this.state, changes );
		if ( Object.keys( changes ).every( ( k ) => STYLE_KEYS.includes( k ) ) && this.shown ) {

			for ( const m of this.meshes ) m.setStyle( { wireframe: this.state.wireframe, cmap: this.drape ? DRAPE_CMAP : this.state.cmap } );
			showControls( this );
			showColorBar( this );
			this.drawFlat();
			this.writeURL();
			this.viewport.requestRender();
			return;

		}

		this.rebuild();

	}

	/** A new metric: accuracies are read on a linear scale (a log scale only suits losses). */
	setMetric( metric ) {

		const changes = { metric };
		if ( isAccuracy( metric ) && ! isAccuracy( this.state.metric ) ) {

			this._logForLoss = this.state.log;
			changes.log = false;

		} else if ( ! isAccuracy( metric ) && isAccuracy( this.state.metric ) && this._logForLoss !== undefined ) changes.log = this._logForLoss;
		this.update( changes );

	}

	/** Newly shown surfaces that are all 1-D have nothing to show in 3-D: switch to the 1-D view. */
	_preferLineView() {

		const loaded = this.store.selected.map( ( s ) => s.layer ).filter( Boolean );
		const fresh = loaded.map( ( l ) => l.id ).join();
		if ( fresh === this._lastLoaded ) return;
		this._lastLoaded = fresh;
		if ( loaded.length && loaded.every( ( l ) => l.mesh.ndim === 1 ) ) this.state.view = '1d';

	}

	/** The shown layers in selection order, with their grids for the current metric. */
	_shown() {

		const loaded = this.store.selected.map( ( s ) => s.layer ).filter( Boolean );
		const metrics = [ ...new Set( loaded.flatMap( ( l ) => Object.keys( l.mesh.metrics ) ) ) ];
		if ( ! metrics.includes( this.state.metric ) && metrics.length ) {

			if ( this.state.metric ) this.status.notice( `no ${ this.state.metric } in the surfaces shown: showing ${ metricName( metrics.includes( 'train_loss' ) ? 'train_loss' : metrics[ 0 ] ) }` );
			this.state.metric = metrics.includes( 'train_loss' ) ? 'train_loss' : metrics[ 0 ];

		}

		const metric = this.state.metric;
		const shown = loaded.filter( ( l ) => metric && l.mesh.metrics[ metric ] ).map( ( l ) => ( { ...l, name: l.mesh.name || l.id, grid: new GridData( l.mesh, metric ) } ) );
		return { loaded, metrics, shown };

	}

	/** Rebuild every view from the state and the loaded meshes. */
	rebuild() {

		const { loaded, metrics, shown } = this._shown();
		const { state } = this;
		this.shown = shown;
		// the paths' own values too: a checkpoint off the plane may lie above or below the whole surface
		const values = [ ...shown.map( ( l ) => l.grid.display ), ...pathsOf( shown, state.metric ).map( ( p ) => p.values ) ];
		this.zscale = new ZScale( values, { log: state.log, vmax: state.vmax } );
		if ( state.vmax !== null && this.zscale.min !== null && state.vmax <= this.zscale.min ) {

			this.status.error( `vmax ${ formatNumber( state.vmax ) } is not above the lowest ${ metricName( state.metric ) } shown (${ formatNumber( this.zscale.min ) }); clipping is off` );
			state.vmax = null;
			$( 'vmax' ).value = '';
			this.zscale = new ZScale( values, { log: state.log, vmax: null } );

		}

		this.names = axisNames( shown );
		this.frame = new XYFrame( shown.map( ( l ) => l.grid ), { stretch: this.names.pca } );
		// Side by side: one pane per surface (2 to 4), all seen through one camera.
		const panes = state.panes && shown.length >= 2 && shown.length <= 4 ? shown.length : 1;
		const colorMode = shown.length === 1 || panes > 1 ? 'map' : 'solid';
		this.drape = this._drape( shown, colorMode );
		for ( const m of this.meshes ) m.dispose();
		this.meshes = shown.map( ( l, i ) => {

			const ratio = this.drape && this.drape.grids.get( l.id );
			const mesh = new SurfaceMesh( l.grid, this.frame, this.zscale, {
				color: l.color, opacity: l.opacity, colorMode, cmap: ratio ? DRAPE_CMAP : state.cmap, wireframe: state.wireframe,
				tint: ratio ? drapeTint( ratio, this.drape.scale ) : null,
			} );
			if ( panes > 1 ) mesh.object.userData.pane = i;
			return mesh;

		} );
		this.viewport.setPanes( state.view === '3d' && panes > 1 ? shown.map( ( l ) => h( 'div', { class: 'layer-title', style: `--swatch: ${ l.color }` }, l.name ) ) : [] );
		this.colorMode = colorMode;
		this.axes.update( this.frame, this.zscale, metricText( state.metric, shown ), this.names.short, this.viewport.camera );
		this._buildPaths();

		const labels = metrics.map( ( m ) => metricText( m, shown ) ), list = labels.join();
		if ( list !== this._metrics ) {

			$( 'metric' ).replaceChildren( ...metrics.map( ( m, i ) => h( 'option', { value: m }, labels[ i ] ) ) );
			$( 'color-by-label' ).hidden = ! metrics.includes( RATIO );
			this._metrics = list;

		}

		showControls( this );
		showColorBar( this );
		showTitle( this );
		this.drawFlat();
		this._panels( loaded );
		showProgress( this );
		this.writeURL();
		this.viewport.renderNow();
		this.ready = this.store.pending === 0;

	}

	/** One layer's colour or opacity changed: its material only. */
	restyle( id ) {

		const layer = this.store.layers.get( id );
		const shown = this.shown && this.shown.find( ( l ) => l.id === id );
		if ( ! layer || ! shown ) return;
		Object.assign( shown, { color: layer.color, opacity: layer.opacity } );
		const mesh = this.meshes.find( ( m ) => m.grid === shown.grid );
		if ( mesh ) mesh.setStyle( { color: layer.color, opacity: layer.opacity } );
		if ( this.paths.some( ( p ) => p.id === id ) ) this._buildPaths(); // a path takes its surface's colour
		showTitle( this );
		const swatch = `--swatch: ${ layer.color }`;
		for ( const el of document.querySelectorAll( '#details article h3' ) ) if ( el.parentElement.dataset.id === id ) el.setAttribute( 'style', swatch );
		setValue( document.querySelector( `#layers li[data-id="${ CSS.escape( id ) }"] input[type=color]` ), layer.color );
		setValue( document.querySelector( `#layers li[data-id="${ CSS.escape( id ) }"] input[type=range]` ), layer.opacity );
		this.drawFlat();
		this.writeURL();
		this.viewport.requestRender();

	}

	/** The shown surfaces' training paths, in 3-D with the meshes (in their surface's pane). Paths in
	 * different planes are still drawn, each on its surface (the title warns that they do not compare). */
	_buildPaths() {

		const { shown, state } = this;
		for ( const p of this.pathObjects ) p.dispose();
		this.paths = pathsOf( shown, state.metric );
		this.pathObjects = this.paths.map( ( path ) => {

			const object = new PathObject( path, this.frame, this.zscale );
			if ( this.viewport.panes > 1 ) object.group.userData.pane = shown.findIndex( ( l ) => l.id === path.id );
			return object;

		} );
		this.viewport.setContent( shown.length ? [ this.axes.group, ...this.meshes.map( ( m ) => m.object ), ...this.pathObjects.map( ( p ) => p.group ) ] : [] );

	}

	/** The eigenvalue ratio draped over the 3-D surfaces as colour (state.colorBy): {grids, scale} with
	 * one diverging scale for all of them, or null (colour by height). */
	_drape( shown, colorMode ) {

		if ( this.state.colorBy !== RATIO ) return null;
		const grids = ratioGrids( shown );
		if ( ! grids.size ) return null; // the control is hidden: no surface shown has eigenvalue maps
		if ( colorMode !== 'map' ) {

			this.status.notice( `colour by ${ RATIO_LABEL } needs one surface, or side-by-side panes: colouring by layer` );
			return null;

		}

		return { grids, scale: new RatioScale( [ ...grids.values() ].map( ( g ) => g.display ) ) };

	}

	_panels( loaded ) {

		const layers = loaded.map( ( l ) => ( { ...l, name: l.mesh.name || l.id } ) );
		renderLayers( $( 'layers' ), layers, {
			onColor: ( id, color ) => this.store.style( id, { color } ),
			onOpacity: ( id, opacity ) => this.store.style( id, { opacity } ),
			onRemove: ( id ) => this.store.select( this.store.ids.filter( ( x ) => x !== id ) ),
		} );
		renderDifference( $( 'difference' ), layers, ( a, b ) => this.store.select( [ ...this.store.ids, `${ a }${ DIFF }${ b }` ] ) );
		const shown = new Map( this.shown.map( ( l ) => [ l.id, l ] ) ); // with their grids of the metric shown
		const waiting = this.store.ids.filter( ( id ) => this.store.waiting.has( id ) ).map( ( id ) => this.store.title( id ) );
		renderDetails( $( 'details' ), loaded.map( ( l ) => ( { summary: l.mesh.summary, recipe: l.mesh.recipe, color: l.color, mesh: l.mesh, nan: shown.has( l.id ) ? nanText( shown.get( l.id ) ) : null } ) ), waiting );
		this.renderCatalog();

	}

	/** Show just these surfaces (a preset, a surface's name): on a phone the drawer closes to show them
	 * (a tick in the catalog adds one and leaves it open). */
	show( ids ) {

		closeDrawers( this );
		return this.store.select( ids );

	}

	renderCatalog() {

		const { store } = this;
		const matching = renderCatalog( $( 'catalog' ), store.catalog, store.ids, $( 'catalog-filter' ).value, {
			onToggle: ( id, on ) => store.toggle( id, on ),
			onSolo: ( id ) => this.show( [ id ] ),
		} );
		const total = store.catalog.length;
		$( 'catalog-count' ).textContent = matching === total ? `(${ total })` : `(${ matching } of ${ total })`;

	}

	/** The contour map or the 1-D plot, whichever is shown. */
	drawFlat() {

		if ( ! this.shown ) return;
		const { state, shown, zscale } = this;
		const inset = plotInset( state.view );
		if ( state.view === 'map' ) {

			this.mapView.draw( { layers: shown.map( ( l ) => ( { ...l, style: { color: l.color } } ) ), zscale, frame: this.frame, cmap: state.cmap, cursor: this.hover.cursor, names: this.names, paths: this.paths, pathCursor: this.hover.pathCursor, inset } );
			placeColorBar( this.mapView.plot );

		} else if ( state.view === '1d' ) {

			const slices = sliceCurves( shown, { slice: state.slice, cursor: this.hover.cursor, names: this.names } );
			// the y axis spans the curves drawn, not the whole surfaces (a slice used a sliver of the plot)
			const fitted = new ZScale( slices.curves.map( ( c ) => c.values ), { log: state.log, vmax: state.vmax } );
			this.lineView.draw( { ...slices, zscale: fitted.empty ? zscale : fitted, ylabel: `${ metricText( state.metric, shown ) }${ state.log ? ' (log)' : '' }`, cursor: this.hover.lineCursor, inset } );

		}

	}

	/** The camera moved: the z axis faces it, the hover ends, and the link follows (debounced). */
	cameraMoved() {

		if ( this.axes?.face( this.viewport.camera ) ) this.viewport.requestRender();
		this.hover?.clear();
		clearTimeout( this._cameraTimer );
		this._cameraTimer = setTimeout( () => this.writeURL(), 250 );

	}

	writeURL() {

		const { state, store } = this;
		if ( ! this.started ) return;
		state.camera = this.viewport.getCamera();
		state.ids = store.ids;
		state.colors = {};
		state.opacities = {};
		for ( const [ id, layer ] of store.layers ) {

			state.colors[ id ] = layer.color;
			state.opacities[ id ] = layer.opacity;

		}

		if ( this.live ) state.jobs = this.live.jobIds;
		history.replaceState( null, '', writeState( state ) );

	}

}

const app = new App();
app.start();
