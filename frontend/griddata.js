// A surface's mesh JSON as flat typed arrays, and the coarse surface a partial job shows.
//
// Workers evaluate coarse-to-fine (workers/grid.py): first the (2^k + 1)-point subgrids, then finer
// ones. While a job runs, points not done yet are filled by bilinear interpolation from the finest
// subgrid that is complete, so the surface appears coarse and sharpens. Points that are done but not
// finite (a diverged loss) stay NaN: they are gaps, never interpolated over.

/** numpy's np.round: halves go to the even neighbour. */
function roundHalfEven( v ) {

	const f = Math.floor( v );
	const d = v - f;
	if ( d > 0.5 ) return f + 1;
	if ( d < 0.5 ) return f;
	return f % 2 === 0 ? f : f + 1;

}

/** Indices of an axis of ``n`` points present at ``level`` — workers.grid.level_indices, exactly. */
function levelIndices( n, level ) {

	const m = Math.min( n, Math.pow( 2, level ) + 1 );
	if ( m === 1 ) return [ 0 ];
	const step = ( n - 1 ) / ( m - 1 );
	const out = new Set();
	for ( let i = 0; i < m; i ++ ) out.add( roundHalfEven( i === m - 1 ? n - 1 : i * step ) );
	return [ ...out ].sort( ( a, b ) => a - b );

}

export class GridData {

	/** @param {object} mesh the server's Mesh JSON; ``metric`` one of its metrics */
	constructor( mesh, metric ) {

		this.id = mesh.id;
		this.ndim = mesh.ndim;
		this.x = mesh.x;
		this.y = mesh.ndim === 2 ? mesh.y : [ 0 ];
		this.nx = this.x.length;
		this.ny = this.y.length;
		this.metric = metric;
		const n = this.nx * this.ny;
		this.values = new Float64Array( n ).fill( NaN ); // raw values, NaN where null
		this.done = new Uint8Array( n );
		const rows = mesh.ndim === 2 ? mesh.metrics[ metric ] : [ mesh.metrics[ metric ] ];
		const doneRows = mesh.ndim === 2 ? mesh.done : [ mesh.done ];
		for ( let iy = 0; iy < this.ny; iy ++ ) {

			for ( let ix = 0; ix < this.nx; ix ++ ) {

				const v = rows[ iy ][ ix ];
				this.values[ iy * this.nx + ix ] = v === null ? NaN : v;
				this.done[ iy * this.nx + ix ] = doneRows[ iy ][ ix ] ? 1 : 0;

			}

		}

		this.refill();

	}

	get complete() {

		return this.done.every( ( d ) => d === 1 );

	}

	get pointsDone() {

		return this.done.reduce( ( a, d ) => a + d, 0 );

	}

	/** How many points are done and not finite (NaN or infinite: null in the mesh JSON): never drawn. */
	get notFinite() {

		return this.done.reduce( ( a, d, k ) => a + ( d && Number.isNaN( this.values[ k ] ) ? 1 : 0 ), 0 );

	}

	/** Value at grid point (ix, iy) straight from the data (NaN when null), and whether it is done. */
	at( ix, iy ) {

		const k = iy * this.nx + ix;
		return { value: this.values[ k ], done: this.done[ k ] === 1 };

	}

	/** Recompute ``display``: done values as they are, pending ones interpolated from a complete subgrid. */
	refill() {

		const { nx, ny } = this;
		this.display = Float64Array.from( this.values );
		if ( this.complete ) {

			this.coarseLevel = null;
			return;

		}

		let best = null;
		for ( let level = 0; ; level ++ ) {

			const ix = levelIndices( nx, level ), iy = levelIndices( ny, level );
			if ( ! iy.every( ( j ) => ix.every( ( i ) => this.done[ j * nx + i ] ) ) ) break;
			best = { ix, iy, level };
			if ( ix.length === nx && iy.length === ny ) break;

		}

		this.coarseLevel = best ? best.level : null;
		if ( ! best ) {

			for ( let k = 0; k < this.display.length; k ++ ) if ( ! this.done[ k ] ) this.display[ k ] = NaN;
			return;

		}

		const bracket = ( sub, n ) => {

			const lo = new Int32Array( n ), hi = new Int32Array( n );
			let s = 0;
			for ( let i = 0; i < n; i ++ ) {

				while ( s < sub.length - 1 && sub[ s + 1 ] <= i ) s ++;
				lo[ i ] = sub[ s ];
				hi[ i ] = sub[ Math.min( s + 1, sub.length - 1 ) ];
				if ( lo[ i ] === i ) hi[ i ] = i;

			}

			return [ lo, hi ];

		};

		const [ xl, xh ] = bracket( best.ix, nx ), [ yl, yh ] = bracket( best.iy, ny );
		const v = this.values;
		for ( let j = 0; j < ny; j ++ ) {

			for ( let i = 0; i < nx; i ++ ) {

				const k = j * nx + i;
				if ( this.done[ k ] ) continue;
				const fx = xh[ i ] === xl[ i ] ? 0 : ( i - xl[ i ] ) / ( xh[ i ] - xl[ i ] );
				const fy = yh[ j ] === yl[ j ] ? 0 : ( j - yl[ j ] ) / ( yh[ j ] - yl[ j ] );
				const a = v[ yl[ j ] * nx + xl[ i ] ], b = v[ yl[ j ] * nx + xh[ i ] ];
				const c = v[ yh[ j ] * nx + xl[ i ] ], d = v[ yh[ j ] * nx + xh[ i ] ];
				this.display[ k ] = ( a * ( 1 - fx ) + b * fx ) * ( 1 - fy ) + ( c * ( 1 - fx ) + d * fx ) * fy;

			}

		}

	}

}

/** Write a job's newly finished points ([{ix, iy, values: {metric: v}}]) into a Mesh JSON in place. */
export function patchMesh( mesh, points ) {

	for ( const p of points ) {

		for ( const [ metric, v ] of Object.entries( p.values || {} ) ) {

			const rows = mesh.metrics[ metric ];
			if ( ! rows ) continue;
			if ( mesh.ndim === 2 ) rows[ p.iy ][ p.ix ] = v;
			else rows[ p.ix ] = v;

		}

		if ( mesh.ndim === 2 ) mesh.done[ p.iy ][ p.ix ] = 1;
		else mesh.done[ p.ix ] = 1;

	}

	const flat = mesh.ndim === 2 ? mesh.done.flat() : mesh.done;
	mesh.points_done = flat.reduce( ( a, d ) => a + ( d ? 1 : 0 ), 0 );
	mesh.complete = mesh.points_done === flat.length;
	if ( mesh.summary ) Object.assign( mesh.summary, { points_done: mesh.points_done, status: mesh.complete ? 'complete' : 'partial' } );

}
