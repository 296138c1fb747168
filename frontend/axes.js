// The shared 3-D axes: a floor grid at the x/y ticks, a z axis with the scale's numbered ticks, and
// text sprites for the labels. Rebuilt whenever the frame or the z scale changes, and when the camera
// turns the z axis to another corner of the floor (face); dispose() frees all.

import * as THREE from 'three';
import { Z_HEIGHT, niceTicks, tickLabels } from './scale.js';

const LABEL_HEIGHT = 0.07;
const COMPACT = 2.5; // labels this many times their size (a phone's small panes): 3 ticks a side, axes named x and y
const FEWER_Z = 1.5; // labels this many times their size: one z tick fewer, so they stand apart
const AT_CORNER = 0.12; // world units: an x or y tick this near the z axis's corner gets no label

/** A text label facing the camera; ``outline``: a rim of that colour around the letters; ``background``:
 * a rounded box of that colour behind them (a rim alone left a label in a surface's own colour hard to
 * read over that surface). */
export function textSprite( text, { height = LABEL_HEIGHT, color = '#c9d1e0', weight = 400, outline = null, background = null } = {} ) {

	const px = 48;
	const canvas = document.createElement( 'canvas' );
	const ctx = canvas.getContext( '2d' );
	const font = `${ weight } ${ px }px system-ui, sans-serif`;
	ctx.font = font;
	canvas.width = Math.ceil( ctx.measureText( text ).width ) + 16;
	canvas.height = Math.ceil( px * 1.3 );
	ctx.font = font;
	if ( background ) {

		ctx.fillStyle = background;
		ctx.beginPath();
		ctx.roundRect( 0, 0, canvas.width, canvas.height, px / 4 );
		ctx.fill();

	}

	ctx.fillStyle = color;
	ctx.textAlign = 'center';
	ctx.textBaseline = 'middle';
	if ( outline ) { // a dark rim keeps the text readable over any colour of the surface

		ctx.lineWidth = 10;
		ctx.lineJoin = 'round';
		ctx.strokeStyle = outline;
		ctx.strokeText( text, canvas.width / 2, canvas.height / 2 );

	}

	ctx.fillText( text, canvas.width / 2, canvas.height / 2 );
	const texture = new THREE.CanvasTexture( canvas );
	texture.colorSpace = THREE.SRGBColorSpace;
	texture.anisotropy = 4;
	// Depth-tested: a surface in front of a label hides it (labels are never painted over the data).
	const material = new THREE.SpriteMaterial( { map: texture, transparent: true, depthWrite: false, depthTest: true } );
	const sprite = new THREE.Sprite( material );
	sprite.scale.set( height * canvas.width / canvas.height, height, 1 );
	return sprite;

}

export class AxesFrame {

	constructor() {

		this.group = new THREE.Group();
		this.group.name = 'axes';
		this.labelScale = 1;

	}

	/**
	 * @param {import('./scale.js').XYFrame} frame
	 * @param {import('./scale.js').ZScale} zscale
	 * @param {string} metric
	 * @param {{x: string, y: string}} names what the x and y axes are
	 * @param {THREE.Camera} camera the z axis stands at the floor's corner that is leftmost from it
	 */
	update( frame, zscale, metric, names, camera ) {

		this._args = { frame, zscale, metric, names };
		this.corner = this._corner( camera );
		this._build();

	}

	/** Draw the labels ``scale`` times their size (a small view or pane draws them too small to read);
	 * returns whether they changed. */
	setLabelScale( scale ) {

		if ( Math.abs( scale - this.labelScale ) < 0.01 ) return false;
		this.labelScale = scale;
		if ( this._args ) this._build();
		return Boolean( this._args );

	}

	/** Move the z axis to the corner the camera now sees leftmost (from behind the surfaces, its
	 * ticks were hidden); returns whether it moved. */
	face( camera ) {

		if ( ! this._args ) return false;
		const corner = this._corner( camera );
		if ( corner === this.corner ) return false;
		this.corner = corner;
		this._build();
		return true;

	}

	/** The floor's corners [x, y] in world units, counter-clockwise from (x0, y0). */
	_corners() {

		const { frame } = this._args;
		const X0 = frame.sx( frame.x0 ), X1 = frame.sx( frame.x1 );
		const Y0 = frame.has2d ? frame.sy( frame.y0 ) : 0, Y1 = frame.has2d ? frame.sy( frame.y1 ) : 0;
		return [ [ X0, Y0 ], [ X1, Y0 ], [ X1, Y1 ], [ X0, Y1 ] ];

	}

	/** Where the z axis and the walls go, seen from ``camera``: "AB" with A the corner leftmost on the
	 * screen (of two as far left, the farther: it stands clear of the surfaces), for the z axis, and B
	 * the farthest corner, for the walls behind the surfaces. */
	_corner( camera ) {

		camera.updateMatrixWorld();
		const seen = this._corners().map( ( [ x, y ], i ) => ( { i, x: new THREE.Vector3( x, y, 0 ).project( camera ).x, d: camera.position.distanceTo( new THREE.Vector3( x, y, 0 ) ) } ) );
		const back = seen.reduce( ( a, b ) => ( b.d > a.d ? b : a ) ).i;
		seen.sort( ( a, b ) => ( Math.abs( a.x - b.x ) > 1e-3 ? a.x - b.x : b.d - a.d ) );
		return `${ seen[ 0 ].i }${ back }`;

	}

	_build() {

		this.clear();
		const { frame, zscale, metric, names } = this._args;
		const corners = this._corners();
		const [ [ X0, Y0 ], , [ X1, Y1 ] ] = corners;
		const axis = Number( this.corner[ 0 ] ), back = Number( this.corner[ 1 ] );
		const [ AX, AY ] = corners[ axis ]; // the z axis
		const walls = [ corners[ back ], corners[ ( back + 1 ) % 4 ], corners[ ( back + 3 ) % 4 ] ];
		// away from the floor's middle, along both axes: tick marks and labels outside the surfaces
		const out = new THREE.Vector2( Math.sign( AX - ( X0 + X1 ) / 2 ), Math.sign( AY - ( Y0 + Y1 ) / 2 ) ).normalize();
		const major = [], minor = [];
		const compact = this.labelScale >= COMPACT;
		const xt = niceTicks( frame.x0, frame.x1, compact ? 3 : 5 );
		const yt = frame.has2d ? niceTicks( frame.y0, frame.y1, compact ? 3 : 5 ) : [];
		for ( const x of xt ) minor.push( frame.sx( x ), Y0, 0, frame.sx( x ), Y1, 0 );
		for ( const y of yt ) minor.push( X0, frame.sy( y ), 0, X1, frame.sy( y ), 0 );
		major.push( X0, Y0, 0, X1, Y0, 0, X1, Y0, 0, X1, Y1, 0, X1, Y1, 0, X0, Y1, 0, X0, Y1, 0, X0, Y0, 0 );
		major.push( AX, AY, 0, AX, AY, Z_HEIGHT );
		const ticks = zscale.empty ? [] : zscale.ticks( compact ? 4 : this.labelScale >= FEWER_Z ? 5 : 6 );
		for ( const tick of ticks ) {

			const z = tick.t * Z_HEIGHT;
			major.push( AX, AY, z, AX + out.x * 0.04, AY + out.y * 0.04, z );
			const [ [ WX, WY ], [ PX, PY ], [ QX, QY ] ] = walls;
			minor.push( WX, WY, z, PX, PY, z, WX, WY, z, QX, QY, z ); // faint walls behind the surfaces

		}

		if ( frame.x0 <= 0 && frame.x1 >= 0 && frame.y0 <= 0 && frame.y1 >= 0 ) { // the trained model

			const cx = frame.sx( 0 ), cy = frame.has2d ? frame.sy( 0 ) : 0, r = 0.05;
			major.push( cx - r, cy, 0, cx + r, cy, 0, cx, cy - r, 0, cx, cy + r, 0 );

		}

		this._lines( minor, 0x2c3445 );
		this._lines( major, 0x6b7894 );
		const xl = tickLabels( xt ), yl = tickLabels( yt );
		const grow = LABEL_HEIGHT * ( this.labelScale - 1 ); // larger labels stand farther out, clear of the floor
		// an x or y tick at the z axis's corner stood in line under the z ticks, read as one of them ("-1"
		// under "5" read as a loss of -1): it goes unlabelled (the other ticks say where it is)
		const corner = ( v, at, side ) => side && Math.abs( v - at ) < AT_CORNER;
		xt.forEach( ( x, i ) => corner( frame.sx( x ), AX, AY === Y0 ) || this._label( xl[ i ], frame.sx( x ), Y0 - 0.1 - 0.5 * grow, 0, { role: 'x-tick' } ) );
		yt.forEach( ( y, i ) => corner( frame.sy( y ), AY, AX === X1 ) || this._label( yl[ i ], X1 + 0.12 + grow, frame.sy( y ), 0, { role: 'y-tick' } ) );
		const zOut = 0.16 + 0.6 * grow;
		for ( const tick of ticks ) {

			if ( compact && tick.t < 0.1 ) continue; // a large label at the floor's corner runs into the x and y ticks
			this._label( tick.label, AX + out.x * zOut, AY + out.y * zOut, tick.t * Z_HEIGHT, { role: 'z-tick' } );

		}

		// small panes name the axes x and y (the title says what they are): longer names ran out of them
		this._label( compact ? 'x' : names.x, ( X0 + X1 ) / 2, Y0 - 0.3 - 1.5 * grow, 0, { role: 'x-name', weight: 600, height: 0.07 } );
		if ( frame.has2d ) this._label( compact ? 'y' : names.y, X1 + 0.42 + 1.5 * grow, ( Y0 + Y1 ) / 2, 0, { role: 'y-name', weight: 600, height: 0.07 } );
		// the metric's name above the axis, reaching inwards (toward the back) rather than out of the view
		const title = this._label( metric + ( zscale.log ? ' (log)' : '' ), AX, AY, Z_HEIGHT + 0.12, { role: 'z-name', weight: 600, height: 0.08 } );
		const [ TX, TY ] = corners[ back !== axis ? back : ( axis + 1 ) % 4 ];
		const inward = new THREE.Vector2( TX - AX, TY - AY ).normalize().multiplyScalar( title.scale.x / 2 );
		title.position.x += inward.x;
		title.position.y += inward.y;

	}

	_lines( coords, color ) {

		const geometry = new THREE.BufferGeometry();
		geometry.setAttribute( 'position', new THREE.Float32BufferAttribute( coords, 3 ) );
		this.group.add( new THREE.LineSegments( geometry, new THREE.LineBasicMaterial( { color } ) ) );

	}

	_label( text, x, y, z, { role = null, ...options } = {} ) {

		const sprite = textSprite( text, { ...options, height: ( options.height ?? LABEL_HEIGHT ) * this.labelScale } );
		sprite.position.set( x, y, z );
		sprite.userData.role = role;
		sprite.userData.text = text;
		this.group.add( sprite );
		return sprite;

	}

	clear() {

		for ( const child of [ ...this.group.children ] ) {

			if ( ! child.isSprite ) child.geometry.dispose(); // sprites share one geometry
			if ( child.material.map ) child.material.map.dispose();
			child.material.dispose();
			child.removeFromParent();

		}

	}

	dispose() {

		this.clear();
		this.group.removeFromParent();

	}

}
