// One renderer, one scene, one camera with OrbitControls (left drag: rotate, wheel/middle: zoom,
// right drag: pan). Side-by-side panes (setPanes) draw the scene once per pane through one camera,
// so their views are linked: each pane shows the shared axes and the surfaces assigned to it
// (object.userData.pane), and the hover marker in all of them. The panes fill the grid that keeps
// each largest (2 x 2 for four in a squarish view). Frames are rendered on demand — on control
// changes, resizes and new data — not in an endless loop (three.js manual: rendering-on-demand).

import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

const HOME = { position: [ 3.3, - 3.95, 2.75 ], target: [ 0, 0, 0.35 ] }; // room on the left for the z axis labels
/** Camera limits: never below the floor (the z = 0 plane seen from under it shows nothing useful),
 * never inside the surfaces, never so far that they vanish. */
export const LIMITS = { maxPolar: Math.PI / 2 - 0.02, minDistance: 0.6, maxDistance: 12, maxTarget: 3 };
const KEY_STEP = Math.PI / 18; // arrows rotate 10 degrees
const BACKGROUND = 0x10141b;
const FOV = 36; // vertical field of view of a wide view, degrees

/** Columns and rows for ``n`` panes in a W x H view: a pane draws the surface at the size of its
 * shorter side (resize keeps a tall pane's horizontal field that of a square), so the grid keeps that
 * largest; more columns (side by side) only where they cost the surfaces no room (a 2% tie). */
function paneGrid( n, W, H ) {

	const grids = Array.from( { length: n }, ( _, k ) => {

		const cols = n - k, rows = Math.ceil( n / cols );
		return { cols, rows, side: Math.min( W / cols, H / rows ) };

	} ); // most columns first
	const best = Math.max( ...grids.map( ( g ) => g.side ) );
	const { cols, rows } = grids.find( ( g ) => g.side >= 0.98 * best );
	return { cols, rows };

}

export class Viewport3D {

	/**
	 * @param {HTMLElement} container element the canvas fills (and follows when it resizes)
	 * @param {() => void} onCameraChange called after the user moved the camera
	 */
	constructor( container, onCameraChange ) {

		this.container = container;
		this.panes = 1;
		this.grid = { cols: 1, rows: 1 };
		this.labelRoom = 1; // the field of view widens by this much when the axes' labels are drawn large
		this.cells = document.createElement( 'div' ); // the panes' frames and names, over the canvas
		this.cells.className = 'pane-cells';
		this.cells.hidden = true;
		this.renderer = new THREE.WebGLRenderer( { antialias: true } );
		this.renderer.setPixelRatio( Math.min( window.devicePixelRatio || 1, 2 ) );
		this.renderer.domElement.setAttribute( 'aria-label', '3-D view of the loss surface' );
		container.append( this.renderer.domElement, this.cells );

		this.scene = new THREE.Scene();
		this.scene.background = new THREE.Color( BACKGROUND );
		this.camera = new THREE.PerspectiveCamera( FOV, 1, 0.01, 100 );
		this.camera.up.set( 0, 0, 1 ); // z (the metric) is up
		this.scene.add( this.camera );
		const sun = new THREE.DirectionalLight( 0xffffff, 1.4 );
		sun.position.set( 0.6, 1.2, 0.4 ); // follows the camera: shading reads the same from any side
		this.camera.add( sun );
		const sky = new THREE.HemisphereLight( 0xffffff, 0x303440, 1.6 );
		sky.position.set( 0, 0, 1 );
		this.scene.add( sky );

		this.content = new THREE.Group();
		this.scene.add( this.content );
		this.marker = new THREE.Mesh( new THREE.SphereGeometry( 0.018, 16, 12 ), new THREE.MeshBasicMaterial( { color: 0xffffff } ) );
		this.marker.visible = false;
		this.scene.add( this.marker );
		this.raycaster = new THREE.Raycaster();
		this.raycaster.params.Line.threshold = 0.03;

		this.controls = new OrbitControls( this.camera, this.renderer.domElement );
		this.controls.maxPolarAngle = LIMITS.maxPolar;
		this.controls.minDistance = LIMITS.minDistance;
		this.controls.maxDistance = LIMITS.maxDistance;
		this.renderer.domElement.tabIndex = 0; // keyboard: arrows rotate, + and - zoom
		this.renderer.domElement.addEventListener( 'keydown', ( e ) => this._key( e ) );
		this.controls.addEventListener( 'change', () => {

			this.requestRender();
			onCameraChange();

		} );
		this._pending = 0; // the id of the frame requested, 0: none
		this.beforeRender = null; // called before each frame with the camera as it is then (labels placed for it)
		this._fit = ''; // the container size, panes and label room the canvas and camera were fitted to
		this.frames = 0;
		this.resetView();
		this._resizeObserver = new ResizeObserver( () => this.resize() );
		this._resizeObserver.observe( container );
		this.resize();

	}

	/** Replace what is drawn (the caller disposes the objects it replaced). */
	setContent( objects ) {

		this.content.clear();
		for ( const object of objects ) this.content.add( object );
		this.requestRender();

	}

	/** Show the hover marker at a world point, or hide it (null). */
	setMarker( world ) {

		this.marker.visible = Boolean( world );
		if ( world ) this.marker.position.copy( world );
		this.requestRender();

	}

	/** Fit the canvas, the panes and the camera to the container (nothing to do when they fit, or
	 * while the container is hidden behind another view: the canvas keeps its last size). */
	resize() {

		const H = this.container.clientHeight, W = this.container.clientWidth;
		const fit = `${ W } ${ H } ${ this.panes } ${ this.labelRoom }`;
		if ( ! W || ! H || fit === this._fit ) return;
		this._fit = fit;
		this.renderer.setSize( W, H, true );
		this.grid = paneGrid( this.panes, W, H );
		this.cells.style.gridTemplateColumns = `repeat(${ this.grid.cols }, 1fr)`;
		this.cells.style.gridTemplateRows = `repeat(${ this.grid.rows }, 1fr)`;
		const w = W / this.grid.cols, h = H / this.grid.rows;
		this.camera.aspect = w / h;
		// Tall views (phones) keep the horizontal field of a square one, so the surface still fits; large
		// labels (a small pane's) get room around it.
		const half = Math.tan( THREE.MathUtils.degToRad( FOV / 2 ) ) * Math.max( 1, h / w ) * this.labelRoom;
		this.camera.fov = Math.min( 80, 2 * THREE.MathUtils.radToDeg( Math.atan( half ) ) );
		this.camera.updateProjectionMatrix();
		this.renderNow();

	}

	requestRender() {

		if ( this._pending ) return;
		this._pending = requestAnimationFrame( () => this.renderNow() );

	}

	/** Draw now (a frame requested and not drawn yet is dropped: this one shows the same). */
	renderNow() {

		cancelAnimationFrame( this._pending );
		this._pending = 0;
		this.beforeRender?.();
		const n = this.panes;
		if ( n === 1 ) this.renderer.render( this.scene, this.camera );
		else {

			const W = this.container.clientWidth, H = this.container.clientHeight;
			const { cols, rows } = this.grid, w = W / cols, h = H / rows;
			this.renderer.setViewport( 0, 0, W, H );
			this.renderer.clear(); // an empty cell (three panes in 2 x 2) too
			this.renderer.setScissorTest( true );
			for ( let i = 0; i < n; i ++ ) {

				const col = i % cols, row = Math.floor( i / cols ), x = col * w, y = H - ( row + 1 ) * h; // y from the bottom
				this._showPane( i );
				this.renderer.setViewport( x, y, w, h );
				this.renderer.setScissor( x, y, w, h );
				this.renderer.render( this.scene, this.camera );

			}

			this._showPane( null );
			this.renderer.setScissorTest( false );
			this.renderer.setViewport( 0, 0, W, H );

		}

		this.frames ++;

	}

	/** Widen the field of view ``room`` times (1: as designed), to fit labels drawn larger than their size. */
	setLabelRoom( room ) {

		if ( room === this.labelRoom ) return;
		this.labelRoom = room;
		this.resize();

	}

	/** Draw one pane per label (DOM nodes naming each pane; fewer than two: one view); objects choose
	 * theirs with userData.pane. */
	setPanes( labels ) {

		const n = Math.max( 1, labels.length );
		this.cells.replaceChildren( ...( n > 1 ? labels.map( ( label ) => {

			const cell = document.createElement( 'div' );
			cell.append( label );
			return cell;

		} ) : [] ) );
		this.cells.hidden = n === 1;
		if ( n === this.panes ) return;
		this.panes = n;
		this.resize();

	}

	/** The shorter side of a pane (of the view, without panes) in CSS pixels: the size the surface is drawn at. */
	paneSide() {

		const W = this.container.clientWidth, H = this.container.clientHeight, { cols, rows } = paneGrid( this.panes, W, H );
		return Math.min( W / cols, H / rows );

	}

	/** Pane ``i``'s rectangle in client coordinates, and its index. */
	paneRect( i ) {

		const full = this.renderer.domElement.getBoundingClientRect();
		const { cols, rows } = this.grid, width = full.width / cols, height = full.height / rows;
		return { i, left: full.left + ( i % cols ) * width, top: full.top + Math.floor( i / cols ) * height, width, height };

	}

	/** Make only pane ``i``'s surfaces visible (null: all). */
	_showPane( i ) {

		for ( const object of this.content.children ) {

			if ( object.userData.pane !== undefined ) object.visible = i === null || object.userData.pane === i;

		}

	}

	/** The pane (or empty cell) under a client point, and its rectangle. */
	_pane( clientX, clientY ) {

		const full = this.renderer.domElement.getBoundingClientRect();
		const { cols, rows } = this.grid;
		const clamp = ( v, n ) => Math.min( n - 1, Math.max( 0, Math.floor( v * n ) ) );
		return this.paneRect( clamp( ( clientY - full.top ) / full.height, rows ) * cols + clamp( ( clientX - full.left ) / full.width, cols ) );

	}

	resetView() {

		this.setCamera( [ ...HOME.position, ...HOME.target ] );

	}

	/** Camera as [px, py, pz, tx, ty, tz] (position and orbit target), rounded for URLs. */
	getCamera() {

		return [ ...this.camera.position.toArray(), ...this.controls.target.toArray() ].map( ( v ) => Math.round( v * 1000 ) / 1000 );

	}

	/** Place the camera (the limits apply); a position on its target or a target far outside the
	 * scene shows nothing: refused, returns false and changes nothing. */
	setCamera( values ) {

		const position = new THREE.Vector3( ...values.slice( 0, 3 ) ), target = new THREE.Vector3( ...values.slice( 3, 6 ) );
		if ( ! values.every( Number.isFinite ) || position.distanceTo( target ) < 1e-3 || target.length() > LIMITS.maxTarget ) return false;
		this.camera.position.copy( position );
		this.controls.target.copy( target );
		this.controls.update();
		this.requestRender();
		return true;

	}

	_key( event ) {

		const c = this.controls;
		const actions = {
			ArrowLeft: () => c.rotateLeft( KEY_STEP ), ArrowRight: () => c.rotateLeft( - KEY_STEP ),
			ArrowUp: () => c.rotateUp( KEY_STEP / 2 ), ArrowDown: () => c.rotateUp( - KEY_STEP / 2 ),
			// three's dollyOut(s) divides the distance by s (closer), dollyIn(s) multiplies it
			'+': () => c.dollyOut( 1.15 ), '=': () => c.dollyOut( 1.15 ), '-': () => c.dollyIn( 1.15 ),
		};
		const action = actions[ event.key ];
		if ( ! action ) return;
		event.preventDefault();
		action();

	}

	/** First hit of the ray under the pointer among the drawn surfaces, or null. */
	pick( clientX, clientY ) {

		const rect = this._pane( clientX, clientY );
		const ndc = new THREE.Vector2( ( ( clientX - rect.left ) / rect.width ) * 2 - 1, - ( ( clientY - rect.top ) / rect.height ) * 2 + 1 );
		this.raycaster.setFromCamera( ndc, this.camera );
		const here = this.content.children.filter( ( o ) => this.panes === 1 || o.userData.pane === undefined || o.userData.pane === rect.i );
		const hits = this.raycaster.intersectObjects( here, false );
		return hits.find( ( hit ) => hit.object.visible && hit.object.userData.surface ) || null;

	}

	/** Whether a drawn surface (of the first pane) lies between the camera and a world point. */
	occluded( world ) {

		const toward = world.clone().sub( this.camera.position );
		this.raycaster.set( this.camera.position, toward.clone().normalize() );
		this.raycaster.far = toward.length() - 1e-3;
		const here = this.content.children.filter( ( o ) => o.userData.surface && o.visible && ( this.panes === 1 || o.userData.pane === 0 ) );
		const hidden = this.raycaster.intersectObjects( here, false ).length > 0;
		this.raycaster.far = Infinity;
		return hidden;

	}

	/** Client (page viewport) coordinates of a world point (in pane ``pane``). */
	project( world, pane = 0 ) {

		const rect = this.paneRect( pane );
		const p = world.clone().project( this.camera );
		return { x: rect.left + ( p.x + 1 ) / 2 * rect.width, y: rect.top + ( 1 - p.y ) / 2 * rect.height };

	}

	/** The canvas right after a fresh frame (read it before returning to the event loop). */
	snapshot() {

		this.renderNow();
		return this.renderer.domElement;

	}

	memory() {

		return { ...this.renderer.info.memory, frames: this.frames };

	}

}
