// One surface as a three.js object: a triangulated grid (2-D) or a polyline in the y = 0 plane (1-D).
// Vertex k is grid point (ix, iy) with k = iy * nx + ix, so a raycast's face leads back to the data.
// Points that are not drawable (null, non-finite, <= 0 on a log scale) are left out of every
// triangle: they show as gaps, not as spikes to zero.

import * as THREE from 'three';
import { colorAt } from './colormap.js';
import { Z_HEIGHT } from './scale.js';

const PENDING_DIM = 0.55; // pending (interpolated) points are drawn darker

export class SurfaceMesh {

	/** Geometries built so far (tests check that a style change builds none). */
	static built = 0;

	/**
	 * @param {import('./griddata.js').GridData} grid
	 * @param {import('./scale.js').XYFrame} frame
	 * @param {import('./scale.js').ZScale} zscale
	 * @param {{color: string, opacity: number, colorMode: 'map'|'solid', cmap: string, wireframe: boolean,
	 *   tint?: Float32Array|null}} style ``tint``: per-vertex colour positions in [0, 1] of another
	 *   metric draped over the surface (colour mode 'map'); null colours by height
	 */
	constructor( grid, frame, zscale, style ) {

		SurfaceMesh.built ++;
		this.grid = grid;
		const { nx, ny } = grid;
		const n = nx * ny;
		const positions = new Float32Array( n * 3 );
		this.t = new Float32Array( n ); // position of each value on the z scale, in [0, 1]
		this.valid = new Uint8Array( n );
		for ( let iy = 0; iy < ny; iy ++ ) {

			for ( let ix = 0; ix < nx; ix ++ ) {

				const k = iy * nx + ix;
				const t = zscale.normalize( grid.display[ k ] );
				const ok = Number.isFinite( t );
				this.valid[ k ] = ok ? 1 : 0;
				this.t[ k ] = ok ? t : 0;
				positions[ 3 * k ] = frame.sx( grid.x[ ix ] );
				positions[ 3 * k + 1 ] = grid.ndim === 2 ? frame.sy( grid.y[ iy ] ) : 0;
				positions[ 3 * k + 2 ] = ok ? t * Z_HEIGHT : 0;

			}

		}

		const geometry = new THREE.BufferGeometry();
		geometry.setAttribute( 'position', new THREE.BufferAttribute( positions, 3 ) );
		geometry.setAttribute( 'color', new THREE.BufferAttribute( new Float32Array( n * 3 ), 3 ) );
		const index = grid.ndim === 2 ? this._triangles() : this._segments();
		geometry.setIndex( index );
		if ( grid.ndim === 2 ) {

			geometry.computeVertexNormals();
			this.material = new THREE.MeshPhongMaterial( {
				vertexColors: true, side: THREE.DoubleSide, shininess: 18, specular: 0x222222,
				polygonOffset: true, polygonOffsetFactor: 1, polygonOffsetUnits: 1,
			} );
			this.object = new THREE.Mesh( geometry, this.material );

		} else {

			this.material = new THREE.LineBasicMaterial( { vertexColors: true } );
			this.object = new THREE.LineSegments( geometry, this.material );

		}

		this.geometry = geometry;
		this.object.userData.surface = this;
		this.drawnVertices = this.valid.reduce( ( a, v ) => a + v, 0 );
		this.primitives = index.length / ( grid.ndim === 2 ? 3 : 2 );
		this.style = {};
		this.setStyle( style );

	}

	/** Change colour, opacity, wireframe, colour mode or colour map in place: the positions and the
	 * triangles stay; only the material and (for colours) the colour attribute are updated. */
	setStyle( change ) {

		const before = this.style;
		const style = this.style = { ...before, ...change };
		const m = this.material;
		const transparent = style.opacity < 1;
		if ( m.transparent !== transparent ) m.needsUpdate = true; // another shader program
		m.transparent = transparent;
		m.opacity = style.opacity;
		m.depthWrite = ! transparent;
		if ( this.grid.ndim === 2 ) m.wireframe = Boolean( style.wireframe );
		if ( style.color !== before.color || style.colorMode !== before.colorMode || style.cmap !== before.cmap || style.tint !== before.tint ) this._paint();

	}

	_paint() {

		const { style, grid } = this;
		const t = style.tint || this.t;
		const colors = this.geometry.attributes.color;
		const solid = new THREE.Color( style.color ); // hex strings are sRGB; three converts to linear
		const linear = new THREE.Color();
		for ( let k = 0; k < t.length; k ++ ) {

			if ( style.colorMode === 'map' ) linear.setRGB( ...colorAt( style.cmap, t[ k ] ), THREE.SRGBColorSpace );
			else linear.copy( solid );
			if ( ! grid.done[ k ] ) linear.multiplyScalar( PENDING_DIM );
			colors.setXYZ( k, linear.r, linear.g, linear.b );

		}

		colors.needsUpdate = true;

	}

	/** Two triangles per complete cell; a cell missing one corner keeps the triangle of the other three. */
	_triangles() {

		const { nx, ny } = this.grid;
		const ok = this.valid;
		const index = [];
		for ( let iy = 0; iy < ny - 1; iy ++ ) {

			for ( let ix = 0; ix < nx - 1; ix ++ ) {

				const a = iy * nx + ix, b = a + 1, c = a + nx, d = c + 1;
				const count = ok[ a ] + ok[ b ] + ok[ c ] + ok[ d ];
				if ( count === 4 ) index.push( a, b, d, a, d, c );
				else if ( count === 3 ) index.push( ...[ a, b, d, c ].filter( ( k ) => ok[ k ] ) );

			}

		}

		return index;

	}

	_segments() {

		const index = [];
		for ( let ix = 0; ix < this.grid.nx - 1; ix ++ ) if ( this.valid[ ix ] && this.valid[ ix + 1 ] ) index.push( ix, ix + 1 );
		return index;

	}

	/** Grid point (ix, iy) of a raycast hit on this object: the hit face's (or segment's) nearest corner. */
	gridIndexOf( hit ) {

		const pos = this.geometry.attributes.position;
		const corners = hit.face ? [ hit.face.a, hit.face.b, hit.face.c ]
			: [ this.geometry.index.getX( hit.index ), this.geometry.index.getX( hit.index + 1 ) ];
		const local = this.object.worldToLocal( hit.point.clone() );
		const v = new THREE.Vector3();
		let best = corners[ 0 ], bestD = Infinity;
		for ( const k of corners ) {

			const d = v.fromBufferAttribute( pos, k ).distanceToSquared( local );
			if ( d < bestD ) {

				bestD = d;
				best = k;

			}

		}

		return { ix: best % this.grid.nx, iy: Math.floor( best / this.grid.nx ) };

	}

	/** World position of grid point (ix, iy), or null when it is not drawn. */
	vertexPosition( ix, iy ) {

		const k = iy * this.grid.nx + ix;
		if ( ix < 0 || iy < 0 || ix >= this.grid.nx || iy >= this.grid.ny || ! this.valid[ k ] ) return null;
		return this.object.localToWorld( new THREE.Vector3().fromBufferAttribute( this.geometry.attributes.position, k ) );

	}

	info() {

		return {
			id: this.grid.id, ndim: this.grid.ndim, kind: this.object.type, vertices: this.geometry.attributes.position.count,
			drawn_vertices: this.drawnVertices, primitives: this.primitives, wireframe: Boolean( this.material.wireframe ),
			opacity: this.material.opacity, color_mode: this.style.colorMode, points_done: this.grid.pointsDone,
			coarse_level: this.grid.coarseLevel, style_color: this.style.color, cmap: this.style.cmap, draped: Boolean( this.style.tint ),
			first_color: [ 0, 1, 2 ].map( ( i ) => Math.round( this.geometry.attributes.color.array[ i ] * 1e4 ) / 1e4 ),
		};

	}

	dispose() {

		this.geometry.dispose();
		this.material.dispose();
		this.object.removeFromParent();

	}

}
