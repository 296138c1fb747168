// Comparing surfaces: the value of any surface at a point (x, y) (its grid point when one sits there,
// bilinear between its four done neighbours otherwise), and the difference A − B as a surface of its
// own (on A's grid; B is resampled bilinearly when its grid is not A's, and the name says so; whether
// A and B share their directions goes with it).

import { compareDirections } from './directions.js';
import { nearestIndex } from './plot-canvas.js';

/** Separator of a difference layer's id: ``a~b`` is A − B (``~`` is never part of a surface id). */
export const DIFF = '~';

export const isDifference = ( id ) => id.includes( DIFF );
export const differenceParts = ( id ) => id.split( DIFF );

const close = ( a, b, span ) => Math.abs( a - b ) <= 1e-9 * Math.max( 1, Math.abs( span ) );

/** Bracketing indices and weight of ``v`` in the increasing ``coords``, or null outside them. */
function bracket( coords, v ) {

	const n = coords.length;
	if ( n === 1 ) return close( coords[ 0 ], v, 1 ) ? [ 0, 0, 0 ] : null;
	const span = coords[ n - 1 ] - coords[ 0 ];
	if ( v < coords[ 0 ] - 1e-9 * Math.abs( span ) || v > coords[ n - 1 ] + 1e-9 * Math.abs( span ) ) return null;
	let i = Math.max( 0, Math.min( n - 2, nearestIndex( coords, v ) ) );
	if ( coords[ i ] > v && i > 0 ) i --;
	const f = Math.min( 1, Math.max( 0, ( v - coords[ i ] ) / ( coords[ i + 1 ] - coords[ i ] ) ) );
	return [ i, i + 1, f ];

}

/**
 * Value of a surface's flat ``values`` (ny x nx, NaN = none; ``done`` mask) at (x, y):
 * {value, how: 'grid point'|'bilinear', ix?, iy?} or null when (x, y) is outside its grid or a
 * neighbour needed is not done.
 */
export function sampleAt( { x: xs, y: ys, nx, ndim }, values, done, x, y ) {

	const ix = nearestIndex( xs, x );
	const iy = ndim === 2 ? nearestIndex( ys, y ) : 0;
	if ( close( xs[ ix ], x, xs[ xs.length - 1 ] - xs[ 0 ] ) && ( ndim === 1 || close( ys[ iy ], y, ys[ ys.length - 1 ] - ys[ 0 ] ) ) ) {

		const k = iy * nx + ix;
		return done[ k ] ? { value: values[ k ], how: 'grid point', ix, iy } : null;

	}

	const bx = bracket( xs, x ), by = ndim === 2 ? bracket( ys, y ) : [ 0, 0, 0 ];
	if ( ! bx || ! by ) return null;
	let value = 0;
	for ( const [ j, wy ] of [ [ by[ 0 ], 1 - by[ 2 ] ], [ by[ 1 ], by[ 2 ] ] ] ) {

		for ( const [ i, wx ] of [ [ bx[ 0 ], 1 - bx[ 2 ] ], [ bx[ 1 ], bx[ 2 ] ] ] ) {

			if ( wx * wy === 0 ) continue;
			const k = j * nx + i;
			if ( ! done[ k ] ) return null;
			value += wx * wy * values[ k ];

		}

	}

	return { value, how: 'bilinear' };

}

const flat = ( mesh, rows ) => ( mesh.ndim === 2 ? rows.flat() : rows ).map( ( v ) => ( v === null ? NaN : v ) );
const sameAxis = ( a, b ) => a.length === b.length && a.every( ( v, i ) => close( v, b[ i ], a[ a.length - 1 ] - a[ 0 ] ) );

/** The Mesh JSON of A − B on A's grid, for the metrics both have; null with a reason when impossible. */
export function differenceMesh( a, b ) {

	if ( a.ndim !== b.ndim ) return { error: `${ a.name } is ${ a.ndim }-D and ${ b.name } is ${ b.ndim }-D: no difference` };
	const metrics = Object.keys( a.metrics ).filter( ( m ) => b.metrics[ m ] );
	if ( ! metrics.length ) return { error: `${ a.name } and ${ b.name } share no metric` };
	const ya = a.ndim === 2 ? a.y : [ 0 ], yb = b.ndim === 2 ? b.y : [ 0 ];
	const nx = a.x.length, ny = ya.length;
	const resampled = ! ( sameAxis( a.x, b.x ) && sameAxis( ya, yb ) );
	const gridB = { x: b.x, y: yb, nx: b.x.length, ndim: a.ndim };
	const doneA = flat( a, a.done ), doneB = flat( b, b.done );
	const out = {}, done = new Array( nx * ny ).fill( 0 );
	for ( const m of metrics ) {

		const va = flat( a, a.metrics[ m ] ), vb = flat( b, b.metrics[ m ] );
		out[ m ] = new Array( nx * ny );
		for ( let iy = 0; iy < ny; iy ++ ) {

			for ( let ix = 0; ix < nx; ix ++ ) {

				const k = iy * nx + ix;
				const other = resampled ? sampleAt( gridB, vb, doneB, a.x[ ix ], ya[ iy ] ) : ( doneB[ k ] ? { value: vb[ k ] } : null );
				const ok = doneA[ k ] && other !== null;
				const d = ok ? va[ k ] - other.value : NaN;
				out[ m ][ k ] = Number.isFinite( d ) ? d : null;
				if ( ok ) done[ k ] = 1;

			}

		}

	}

	const rows = ( list ) => ( a.ndim === 2 ? Array.from( { length: ny }, ( _, j ) => list.slice( j * nx, ( j + 1 ) * nx ) ) : list );
	const name = `${ a.name } − ${ b.name }${ resampled ? ' (B resampled to A’s grid)' : '' }`;
	return {
		id: `${ a.id }${ DIFF }${ b.id }`, ndim: a.ndim, x: a.x, y: a.ndim === 2 ? a.y : undefined, name,
		metrics: Object.fromEntries( metrics.map( ( m ) => [ m, rows( out[ m ] ) ] ) ), done: rows( done ),
		difference: { a: a.id, b: b.id, a_name: a.name, b_name: b.name, resampled, directions: compareDirections( a, b ), computed: Boolean( a.complete && b.complete ) },
		summary: null, recipe: null,
	};

}
