// Wiring: the URL state and the layer store -> the 3-D, contour and 1-D views and the panels.
// Geometry is rebuilt when data, selection, metric or scale change (rebuild); colours, opacity,
// wireframe and colour map are restyled in place (restyle).

import * as api from './api.js';
import { AxesFrame } from './axes.js';
import { COLORMAPS, drawColorBar } from './colormap.js';
import { DIFF } from './compare.js';
import { $, h, setValue } from './dom.js';
import { GridData } from './griddata.js';
import { Hover } from './hover.js';
import { JobPanel } from './jobform.js';
import { LayerStore } from './layers.js';
import { LiveJobs } from './livejobs.js';
import { renderCatalog, renderDetails, renderDifference, renderLayers, renderPresets } from './panels.js';
import { LineView } from './lineview.js';
import { MapView } from './mapview.js';
import { nearestIndex } from './plot-canvas.js';
import { XYFrame, ZScale, formatNumber, isAccuracy } from './scale.js';
import { Viewport3D } from './scene.js';
import { StatusLine } from './status.js';
import { SurfaceMesh } from './surface-mesh.js';
import { installTestHook } from './testhook.js';
import { DRAPE_CMAP, RATIO, RATIO_LABEL, RatioScale, drapeTint, ratioGrids } from './curvature.js';
import { Tooltip } from './tooltip.js';
import { PathObject, onePlane, pathsOf, pcaAxisNames } from './trajectory.js';
import { readState, writeState } from './urlstate.js';
import { exportPNG } from './export.js';

const STYLE_KEYS = [ 'wireframe', 'cmap' ]; // display settings that need no new geometry
const LABEL_SIDE = 520; // CSS px: a view or pane this large draws the 3-D labels at their own size
/** A metric's name with its unit: "train acc (%)"; differences of accuracies (A − B layers among
 * ``shown``) are in percentage points: "train acc (pp)", or beside other surfaces "train acc (%/pp)"
 * (``long``: "train acc (%; A − B in pp)"; the short one fits the colour bar). */
function metricText( metric, shown = [], long = false ) {

	if ( metric === RATIO ) return RATIO_LABEL;
	if ( ! metric ) return '';
	const name = metric.replace( '_', ' ' ), diffs = shown.filter( ( l ) => l.mesh.difference ).length;
	if ( ! isAccuracy( metric ) ) return name;
	return `${ name } (${ ! diffs ? '%' : diffs === shown.length ? 'pp' : long ? '%; A − B in pp' : '%/pp' })`;

}

/** What the x and y axes are, from the shown surfaces' directions: {x: "direction 1, filter-normalized",
 * y: ..., short: {x: "direction 1", y: ...}, note: "x, y: directions 1 and 2, filter-normalized"} (short
 * names label the 3-D axes); PCA surfaces: "PC1, 81.2%" (the share of the path's variance). */
function axisNames( shown ) {

	const pca = pcaAxisNames( shown );
	if ( pca ) return { x: pca.x, y: pca.y, short: { x: pca.x, y: pca.y }, note: `x, y: ${ pca.how }, each axis to its own scale`, pca: true };
	const dirs = shown.map( ( l ) => l.mesh.summary && l.mesh.summary.directions ).filter( Boolean );
	const d = dirs.length && dirs.every( ( x ) => x.norm === dirs[ 0 ].norm && x.kind === dirs[ 0 ].kind ) ? dirs[ 0 ] : null;
	const how = d ? `${ d.norm === 'none' ? 'unnormalized' : `${ d.norm }-normalized` }${ d.kind && d.kind !== 'random' ? ` (${ d.kind })` : '' }` : '';
	const short = { x: 'direction 1', y: 'direction 2' };
	return { x: `${ short.x }${ how ? `, ${ how }` : '' }`, y: `${ short.y }${ how ? `, ${ how }` : '' }`, short, note: how ? `x, y: directions 1 and 2, ${ how }` : '' };

}

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
		this.viewport = new Viewport3D( $( 'view-3d' ), () => this._cameraMoved() );
		this.axes = new AxesFrame();
		this.mapView = new MapView( $( 'view-map' ) );
		this.lineView = new LineView( $( 'view-1d' ) );
		this.live = null; // LiveJobs, once /api/config is known
		this._metrics = '';
		new ResizeObserver( () => ( this.state.view === '3d' ? this._fitPanes() : this.drawFlat() ) ).observe( $( 'viewport' ) );
		this.store.addEventListener( 'change', ( e ) => this._changed( e.detail ) );
		installTestHook( this );

	}

	async start() {

		this._bindControls();
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
				submit: ( request, token ) => this.live.submit( request, token ),
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

			renderPresets( $( 'presets' ), this.store.catalog, ( ids ) => this.store.select( ids ) );
			return this.renderCatalog();

		}

		this.state.ids = this.store.ids;
		if ( kind === 'select' ) this._preferLineView();
		this.rebuild();

	}

	_bindControls() {

		for ( const button of document.querySelectorAll( '[data-view]' ) ) {

			button.addEventListener( 'click', () => this.update( { view: button.dataset.view } ) );

		}

		$( 'cmap' ).replaceChildren( ...COLORMAPS.map( ( name ) => h( 'option', { value: name }, name ) ) );
		$( 'metric' ).addEventListener( 'change', ( e ) => this.setMetric( e.target.value ) );
		$( 'cmap' ).addEventListener( 'change', ( e ) => this.update( { cmap: e.target.value } ) );
		$( 'color-by' ).addEventListener( 'change', ( e ) => this.update( { colorBy: e.target.value } ) );
		$( 'wireframe' ).addEventListener( 'change', ( e ) => this.update( { wireframe: e.target.checked } ) );
		$( 'panes' ).addEventListener( 'change', ( e ) => this.update( { panes: e.target.checked } ) );
		$( 'logz' ).addEventListener( 'change', ( e ) => this.update( { log: e.target.checked } ) );
		$( 'slice' ).addEventListener( 'change', ( e ) => this.update( { slice: e.target.value } ) );
		$( 'vmax' ).addEventListener( 'change', ( e ) => {

			const text = e.target.value.trim();
			const v = text === '' ? null : Number( text );
			if ( v !== null && ! Number.isFinite( v ) ) return this.status.error( `vmax must be a number, got ${ text }` );
			this.update( { vmax: v } );

		} );
		$( 'catalog-filter' ).addEventListener( 'input', () => this.renderCatalog() );
		$( 'reset-view' ).addEventListener( 'click', () => {

			this.viewport.resetView();
			this._cameraMoved();

		} );
		$( 'export-png' ).addEventListener( 'click', () => exportPNG( this.exportSources() ).catch( ( e ) => this.status.error( e ) ) );
		$( 'copy-link' ).addEventListener( 'click', () => {

			this.writeURL();
			navigator.clipboard?.writeText( location.href ).then( () => this.status.set( 'Link copied.', 1500 ), () => this.status.set( location.href, 4000 ) );

		} );
		for ( const side of [ 'left', 'right' ] ) {

			$( `toggle-${ side }` ).addEventListener( 'click', () => this._drawer( document.body.classList.contains( `show-${ side }` ) ? null : side ) );

		}

		document.addEventListener( 'keydown', ( e ) => {

			const open = [ 'left', 'right' ].find( ( side ) => document.body.classList.contains( `show-${ side }` ) );
			if ( e.key !== 'Escape' || ! open ) return;
			this._drawer( null );
			$( `toggle-${ open }` ).focus();

		} );

		this.hover.bind( $( 'viewport' ) );
		if ( matchMedia( '(pointer: coarse)' ).matches ) $( 'hint' ).textContent = 'one finger: rotate · pinch: zoom · two fingers: pan · tap: values';
		window.addEventListener( 'error', ( e ) => this.status.error( e.error || e.message ) );
		window.addEventListener( 'unhandledrejection', ( e ) => this.status.error( e.reason ) );

	}

	/** Open one side panel as a drawer (narrow windows), or none (null); the toggles say which. */
	_drawer( side ) {

		for ( const each of [ 'left', 'right' ] ) {

			document.body.classList.toggle( `show-${ each }`, each === side );
			$( `toggle-${ each }` ).setAttribute( 'aria-expanded', String( each === side ) );

		}

		requestAnimationFrame( () => this.viewport.resize() );

	}

	/** Change display settings: colour map and wireframe in place, the rest with new geometry. */
	update( changes ) {

		Object.assign( this.state, changes );
		if ( Object.keys( changes ).every( ( k ) => STYLE_KEYS.includes( k ) ) && this.shown ) {

			for ( const m of this.meshes ) m.setStyle( { wireframe: this.state.wireframe, cmap: this.drape ? DRAPE_CMAP : this.state.cmap } );
			this._controls();
			this._colorBar();
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

			if ( this.state.metric ) this.status.notice( `no ${ this.state.metric } in the surfaces shown: showing ${ metrics.includes( 'train_loss' ) ? 'train_loss' : metrics[ 0 ] }` );
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

			this.status.error( `vmax ${ formatNumber( state.vmax ) } is not above the lowest ${ state.metric } shown (${ formatNumber( this.zscale.min ) }); clipping is off` );
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

		this._controls();
		this._colorBar();
		this._title();
		this.drawFlat();
		this._panels( loaded );
		this._progressNote();
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
		this._title();
		const swatch = `--swatch: ${ layer.color }`;
		for ( const el of document.querySelectorAll( '#details article h3' ) ) if ( el.parentElement.dataset.id === id ) el.setAttribute( 'style', swatch );
		setValue( document.querySelector( `#layers li[data-id="${ CSS.escape( id ) }"] input[type=color]` ), layer.color );
		setValue( document.querySelector( `#layers li[data-id="${ CSS.escape( id ) }"] input[type=range]` ), layer.opacity );
		this.drawFlat();
		this.writeURL();
		this.viewport.requestRender();

	}

	/** The shown surfaces' training paths, in 3-D with the meshes (in their surface's pane). Paths in
	 * different planes are still drawn, each on its surface, with a notice that they do not compare. */
	_buildPaths() {

		const { shown, state } = this;
		for ( const p of this.pathObjects ) p.dispose();
		this.paths = pathsOf( shown, state.metric );
		this.pathObjects = this.paths.map( ( path ) => {

			const object = new PathObject( path, this.frame, this.zscale );
			if ( this.viewport.panes > 1 ) object.group.userData.pane = shown.findIndex( ( l ) => l.id === path.id );
			return object;

		} );
		const apart = this.paths.length > 1 && ! onePlane( this.paths ) ? this.paths.map( ( p ) => p.name ).join( ', ' ) : '';
		if ( apart && apart !== this._apartNoted ) this.status.notice( `the training paths of ${ apart } lie in different planes (other directions or another centre): their coordinates do not compare` );
		this._apartNoted = apart;
		this.viewport.setContent( shown.length ? [ this.axes.group, ...this.meshes.map( ( m ) => m.object ), ...this.pathObjects.map( ( p ) => p.group ) ] : [] );

	}

	/** Form controls show the state (values set in place; the one being used is left alone). */
	_controls() {

		const { state } = this;
		setValue( $( 'metric' ), state.metric || '' );
		$( 'cmap' ).value = state.cmap;
		$( 'color-by' ).value = state.colorBy;
		$( 'wireframe' ).checked = state.wireframe;
		$( 'panes' ).checked = state.panes;
		$( 'logz' ).checked = state.log;
		$( 'slice' ).value = state.slice;
		setValue( $( 'vmax' ), state.vmax ?? '' );
		for ( const b of document.querySelectorAll( '[data-view]' ) ) b.setAttribute( 'aria-selected', String( b.dataset.view === state.view ) );
		$( 'view-3d' ).hidden = state.view !== '3d';
		$( 'view-map' ).hidden = state.view !== 'map';
		$( 'view-1d' ).hidden = state.view !== '1d';
		$( 'hint' ).hidden = state.view !== '3d' || ! this.shown || ! this.shown.length;
		$( 'reset-view' ).disabled = state.view !== '3d';

	}

	_colorBar() {

		const { state } = this;
		const showBar = this.colorMode === 'map' && state.view !== '1d' && ! this.zscale.empty;
		$( 'colorbar' ).hidden = ! showBar;
		$( 'viewport' ).classList.toggle( 'with-bar', showBar ); // the 3-D view ends left of the bar
		if ( ! showBar ) return;
		const canvas = $( 'colorbar' ).querySelector( 'canvas' );
		if ( this.drape && state.view === '3d' ) drawColorBar( canvas, DRAPE_CMAP, this.drape.scale, '|min/max| (colour)' );
		else drawColorBar( canvas, state.cmap, this.zscale, metricText( state.metric, this.shown ) );

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
		renderDetails( $( 'details' ), loaded.map( ( l ) => ( { summary: l.mesh.summary, recipe: l.mesh.recipe, color: l.color, mesh: l.mesh } ) ) );
		this.renderCatalog();

	}

	_title() {

		const { state, shown, store } = this;
		const waiting = store.ids.filter( ( id ) => store.waiting.has( id ) );
		let lines;
		if ( shown.length ) {

			lines = [
				...( this.viewport.panes > 1 ? [] : shown.map( ( l ) => h( 'div', { class: 'layer-title', style: `--swatch: ${ l.color }` }, l.name ) ) ), // panes name their own
				h( 'div', { class: 'muted' }, `${ metricText( state.metric, shown, true ) }${ state.log ? ', log scale' : '' }${ state.vmax !== null ? `, clipped at ${ formatNumber( state.vmax ) }` : '' }${ this.drape && state.view === '3d' ? `; colour: ${ RATIO_LABEL } (blue: locally convex)` : '' }` ),
				this.names.note ? h( 'div', { class: 'muted axes-note' }, this.names.note ) : null,
			];

		} else if ( waiting.length ) {

			lines = [ ...waiting.map( ( id ) => h( 'div', { class: 'layer-title' }, store.title( id ) ) ), h( 'div', { class: 'muted' }, 'waiting for the first points' ) ];

		} else lines = [ h( 'div', { class: 'muted' }, store.pending ? 'Loading…' : 'No surface shown' ) ];
		$( 'title' ).replaceChildren( ...lines.filter( Boolean ) ); // no axes note: no "null" text
		this._fitPanes();

	}

	/** Panes lie between the title and the hint, which cover none of them; the 3-D labels grow in a
	 * small view or pane, up to twice their size, to stay readable. */
	_fitPanes() {

		const panes = this.viewport.panes > 1, title = $( 'title' ), hint = $( 'hint' ), viewport = $( 'viewport' );
		viewport.classList.toggle( 'panes', panes );
		viewport.style.setProperty( '--panes-top', panes ? `${ title.offsetTop + title.offsetHeight + 8 }px` : '' );
		viewport.style.setProperty( '--panes-bottom', panes && ! hint.hidden ? `${ viewport.clientHeight - hint.offsetTop + 4 }px` : '' );
		if ( this.axes.setLabelScale( Math.min( 2, Math.max( 1, LABEL_SIDE / this.viewport.paneSide() ) ) ) ) this.viewport.requestRender();

	}

	_progressNote() {

		const { shown, store, state } = this;
		const partial = shown.filter( ( l ) => ! l.grid.complete );
		const lacking = store.selected.map( ( s ) => s.layer ).filter( ( l ) => l && ! l.mesh.metrics[ state.metric ] );
		const waiting = store.ids.filter( ( id ) => store.waiting.has( id ) );
		if ( waiting.length ) this.status.set( `Waiting for the first points of ${ waiting.map( ( id ) => `“${ store.title( id ) }”` ).join( ', ' ) }…` );
		else if ( lacking.length ) this.status.set( `${ lacking.map( ( l ) => l.mesh.name ).join( ', ' ) }: no ${ state.metric } in the file, not drawn` );
		else if ( ! shown.length ) this.status.set( store.catalog.length ? 'No surface selected: tick one on the left.' : 'No surfaces yet: compute one under “New surface”.' );
		else if ( partial.length ) this.status.set( partial.map( ( l ) => `${ l.name }: ${ l.grid.pointsDone } of ${ l.grid.nx * l.grid.ny } points${ l.grid.coarseLevel !== null ? ' (coarse preview)' : '' }` ).join( ' · ' ) );
		else this.status.set( null );

	}

	renderCatalog() {

		const { store } = this;
		renderCatalog( $( 'catalog' ), store.catalog, store.ids, $( 'catalog-filter' ).value, {
			onToggle: ( id, on ) => store.toggle( id, on ),
			onSolo: ( id ) => store.select( [ id ] ),
		} );
		$( 'catalog-count' ).textContent = `(${ store.catalog.length })`;

	}

	/** The contour map or the 1-D plot, whichever is shown. */
	drawFlat() {

		if ( ! this.shown ) return;
		const { state, shown, zscale } = this;
		const inset = this._plotInset();
		if ( state.view === 'map' ) {

			this.mapView.draw( { layers: shown.map( ( l ) => ( { ...l, style: { color: l.color } } ) ), zscale, frame: this.frame, cmap: state.cmap, cursor: this.hover.cursor, names: this.names, paths: this.paths, pathCursor: this.hover.pathCursor, inset } );

		} else if ( state.view === '1d' ) {

			this.lineView.draw( { ...this._curves(), zscale, ylabel: `${ metricText( state.metric, shown ) }${ state.log ? ' (log)' : '' }`, cursor: this.hover.lineCursor, inset } );

		}

	}

	/** Room the flat plots leave for what is drawn over them: the title (it grows with the names of
	 * the surfaces shown) above, the colour bar, when shown, on the right. */
	_plotInset() {

		const title = $( 'title' );
		return { top: title.offsetTop + title.offsetHeight + 16, right: $( 'colorbar' ).hidden ? 40 : 130 };

	}

	/** 1-D surfaces as they are; 2-D surfaces sliced through the cursor (or through 0). */
	_curves() {

		const along = this.state.slice;
		const cursor = this.hover.cursor;
		const at = cursor ? this.shown.find( ( l ) => l.id === cursor.id ) : null;
		const through = at ? ( along === 'x' ? at.grid.y[ cursor.iy ] : at.grid.x[ cursor.ix ] ) : 0;
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
			xlabel: along === 'y' && twoD ? this.names.y : this.names.x,
			note: twoD ? `slice along ${ along } through ${ along === 'x' ? 'y' : 'x' } = ${ formatNumber( through ) } (hover the 3-D or contour view to move it)` : '',
		};

	}

	/** Client position of grid point (ix, iy) of surface ``id`` in the current view (``visible``: not
	 * hidden behind another part of a surface), or null when it is not drawn. */
	vertexScreen( id, ix, iy ) {

		if ( this.state.view === '3d' ) {

			const mesh = this.meshes.find( ( m ) => m.grid.id === id );
			const world = mesh ? mesh.vertexPosition( ix, iy ) : null;
			if ( ! world ) return null;
			const exact = this.viewport.project( world, mesh.object.userData.pane ?? 0 );
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

	/** Client position of checkpoint ``i`` of surface ``id``'s path in the current view, or null. */
	checkpointScreen( id, i ) {

		if ( this.state.view === '3d' ) {

			const k = this.paths.findIndex( ( p ) => p.id === id );
			const world = k >= 0 ? this.pathObjects[ k ].positions[ i ] : null;
			if ( ! world ) return null;
			const exact = this.viewport.project( world, this.pathObjects[ k ].group.userData.pane ?? 0 );
			return { x: Math.round( exact.x ), y: Math.round( exact.y ) };

		}

		return this.state.view === 'map' ? this.mapView.checkpointScreen( id, i ) : null;

	}

	exportSources() {

		const view = this.state.view;
		const main = view === '3d' ? this.viewport.snapshot() : $( view === 'map' ? 'view-map' : 'view-1d' );
		const bar = $( 'colorbar' ).hidden ? null : $( 'colorbar' ).querySelector( 'canvas' );
		const names = this.shown.map( ( l ) => ( { name: l.name, color: l.color } ) );
		const file = `lossatlas-${ this.state.ids.join( '+' ) || 'view' }-${ this.state.metric || '' }.png`;
		const caption = [ ...$( 'title' ).querySelectorAll( '.muted' ) ].map( ( el ) => el.textContent );
		const panes = view === '3d' && this.viewport.panes > 1 ? this.viewport.grid : null;
		return { main, bar, names, caption, panes, file };

	}

	_cameraMoved() {

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
