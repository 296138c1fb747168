// The shared 3-D axes: a floor grid at the x/y ticks, a z axis with the scale's numbered ticks, and
// text sprites for the labels. Rebuilt whenever the frame or the z scale changes; dispose() frees all.

import * as THREE from 'three';
import { Z_HEIGHT, niceTicks, tickLabels } from './scale.js';

const LABEL_HEIGHT = 0.07;

export function textSprite( text, { height = LABEL_HEIGHT, color = '#c9d1e0', weight = 400, outline = null } = {} ) {

	const px = 48;
	const canvas = document.createElement( 'canvas' );
	const ctx = canvas.getContext( '2d' );
	const font = `${ weight } ${ px }px system-ui, sans-serif`;
	ctx.font = font;
	canvas.width = Math.ceil( ctx.measureText( text ).width ) + 16;
	canvas.height = Math.ceil( px * 1.3 );
	ctx.font = font;
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

	}

	/**
	 * @param {import('./scale.js').XYFrame} frame
	 * @param {import('./scale.js').ZScale} zscale
	 * @param {string} metric
	 * @param {{x: string, y: string}} names what the x and y axes are
	 */
	update( frame, zscale, metric, names ) {

		this.clear();
		const X0 = frame.sx( frame.x0 ), X1 = frame.sx( frame.x1 );
		const Y0 = frame.has2d ? frame.sy( frame.y0 ) : 0, Y1 = frame.has2d ? frame.sy( frame.y1 ) : 0;
		const major = [], minor = [];
		const xt = niceTicks( frame.x0, frame.x1, 5 );
		const yt = frame.has2d ? niceTicks( frame.y0, frame.y1, 5 ) : [];
		for ( const x of xt ) minor.push( frame.sx( x ), Y0, 0, frame.sx( x ), Y1, 0 );
		for ( const y of yt ) minor.push( X0, frame.sy( y ), 0, X1, frame.sy( y ), 0 );
		major.push( X0, Y0, 0, X1, Y0, 0, X1, Y0, 0, X1, Y1, 0, X1, Y1, 0, X0, Y1, 0, X0, Y1, 0, X0, Y0, 0 );
		major.push( X0, Y1, 0, X0, Y1, Z_HEIGHT ); // z axis at the back-left corner
		const ticks = zscale.empty ? [] : zscale.ticks( 6 );
		for ( const tick of ticks ) {

			const z = tick.t * Z_HEIGHT;
			major.push( X0, Y1, z, X0 - 0.04, Y1, z );
			minor.push( X0, Y1, z, X1, Y1, z, X0, Y1, z, X0, Y0, z ); // faint back walls

		}

		if ( frame.x0 <= 0 && frame.x1 >= 0 && frame.y0 <= 0 && frame.y1 >= 0 ) { // the trained model

			const cx = frame.sx( 0 ), cy = frame.has2d ? frame.sy( 0 ) : 0, r = 0.05;
			major.push( cx - r, cy, 0, cx + r, cy, 0, cx, cy - r, 0, cx, cy + r, 0 );

		}

		this._lines( minor, 0x2c3445 );
		this._lines( major, 0x6b7894 );
		const xl = tickLabels( xt ), yl = tickLabels( yt );
		xt.forEach( ( x, i ) => this._label( xl[ i ], frame.sx( x ), Y0 - 0.1, 0 ) );
		yt.forEach( ( y, i ) => this._label( yl[ i ], X1 + 0.12, frame.sy( y ), 0 ) );
		for ( const tick of ticks ) this._label( tick.label, X0 - 0.16, Y1, tick.t * Z_HEIGHT );
		this._label( names.x, ( X0 + X1 ) / 2, Y0 - 0.3, 0, { weight: 600, height: 0.07 } );
		if ( frame.has2d ) this._label( names.y, X1 + 0.42, ( Y0 + Y1 ) / 2, 0, { weight: 600, height: 0.07 } );
		this._label( metric + ( zscale.log ? ' (log)' : '' ), X0, Y1, Z_HEIGHT + 0.12, { weight: 600, height: 0.08 } );

	}

	_lines( coords, color ) {

		const geometry = new THREE.BufferGeometry();
		geometry.setAttribute( 'position', new THREE.Float32BufferAttribute( coords, 3 ) );
		this.group.add( new THREE.LineSegments( geometry, new THREE.LineBasicMaterial( { color } ) ) );

	}

	_label( text, x, y, z, options ) {

		const sprite = textSprite( text, options );
		sprite.position.set( x, y, z );
		this.group.add( sprite );

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
