// The 1-D view's curves: 1-D surfaces as they are, 2-D surfaces sliced along x or y through the
// hover cursor (or through 0).

import { nearestIndex } from './plot-canvas.js';
import { formatNumber } from './scale.js';

const POINT = matchMedia( '(pointer: coarse)' ).matches ? 'tap' : 'hover'; // a phone has no hover

/**
 * @param {Array} shown the shown layers ({id, name, color, grid})
 * @param {{slice: 'x'|'y', cursor: ?{id, ix, iy}, names: {x: string, y: string}}} how
 * @returns {{curves: Array, xlabel: string, note: string}}
 */
export function sliceCurves( shown, { slice: along, cursor, names } ) {

	const at = cursor ? shown.find( ( l ) => l.id === cursor.id ) : null;
	const through = at ? ( along === 'x' ? at.grid.y[ cursor.iy ] : at.grid.x[ cursor.ix ] ) : 0;
	const curves = shown.map( ( l ) => {

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
	const twoD = shown.some( ( l ) => l.grid.ndim === 2 );
	return {
		curves,
		xlabel: along === 'y' && twoD ? names.y : names.x,
		note: twoD ? `slice along ${ along } through ${ along === 'x' ? 'y' : 'x' } = ${ formatNumber( through ) } (${ POINT } the 3-D or contour view to move it)` : '',
	};

}
