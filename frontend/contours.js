// Contour lines of a grid by marching squares, joined into polylines so they can be labelled.
// Coordinates are fractional grid indices (fx, fy); cells with a missing corner are skipped (gaps).
// Saddle cells are resolved by the cell's mean value.

/** Polylines [[fx, fy], ...] where ``values`` (row-major ny x nx, NaN = none) crosses ``level``. */
export function contourLines( values, nx, ny, level ) {

	const crossings = new Map(); // edge id -> [fx, fy]; one point per edge keeps joins exact
	const crossing = ( id, i0, j0, i1, j1 ) => {

		if ( ! crossings.has( id ) ) {

			const a = values[ j0 * nx + i0 ], b = values[ j1 * nx + i1 ];
			const t = ( level - a ) / ( b - a );
			crossings.set( id, [ i0 + ( i1 - i0 ) * t, j0 + ( j1 - j0 ) * t ] );

		}

		return id;

	};

	const segments = [];
	for ( let j = 0; j < ny - 1; j ++ ) {

		for ( let i = 0; i < nx - 1; i ++ ) {

			const v00 = values[ j * nx + i ], v10 = values[ j * nx + i + 1 ];
			const v01 = values[ ( j + 1 ) * nx + i ], v11 = values[ ( j + 1 ) * nx + i + 1 ];
			if ( ! ( Number.isFinite( v00 ) && Number.isFinite( v10 ) && Number.isFinite( v01 ) && Number.isFinite( v11 ) ) ) continue;
			const code = ( v00 >= level ? 1 : 0 ) | ( v10 >= level ? 2 : 0 ) | ( v11 >= level ? 4 : 0 ) | ( v01 >= level ? 8 : 0 );
			if ( code === 0 || code === 15 ) continue;
			const bottom = () => crossing( `h${ j * nx + i }`, i, j, i + 1, j );
			const top = () => crossing( `h${ ( j + 1 ) * nx + i }`, i, j + 1, i + 1, j + 1 );
			const left = () => crossing( `v${ j * nx + i }`, i, j, i, j + 1 );
			const right = () => crossing( `v${ j * nx + i + 1 }`, i + 1, j, i + 1, j + 1 );
			const centreHigh = ( v00 + v10 + v01 + v11 ) / 4 >= level;
			switch ( code ) {

				case 1: case 14: segments.push( [ bottom(), left() ] ); break;
				case 2: case 13: segments.push( [ bottom(), right() ] ); break;
				case 3: case 12: segments.push( [ left(), right() ] ); break;
				case 4: case 11: segments.push( [ right(), top() ] ); break;
				case 6: case 9: segments.push( [ bottom(), top() ] ); break;
				case 7: case 8: segments.push( [ left(), top() ] ); break;
				case 5: // v00 and v11 high
					if ( centreHigh ) segments.push( [ bottom(), right() ], [ top(), left() ] );
					else segments.push( [ bottom(), left() ], [ right(), top() ] );
					break;
				case 10: // v10 and v01 high
					if ( centreHigh ) segments.push( [ bottom(), left() ], [ right(), top() ] );
					else segments.push( [ bottom(), right() ], [ top(), left() ] );
					break;

			}

		}

	}

	return joinSegments( segments ).map( ( ids ) => ids.map( ( id ) => crossings.get( id ) ) );

}

/** Chain segments [edgeA, edgeB] sharing edges into polylines of edge ids. */
function joinSegments( segments ) {

	const byEdge = new Map();
	segments.forEach( ( [ a, b ], k ) => {

		for ( const e of [ a, b ] ) {

			if ( ! byEdge.has( e ) ) byEdge.set( e, [] );
			byEdge.get( e ).push( k );

		}

	} );
	const used = new Uint8Array( segments.length );
	const walk = ( line, edge ) => {

		for ( ;; ) {

			const next = ( byEdge.get( edge ) || [] ).find( ( k ) => ! used[ k ] );
			if ( next === undefined ) return;
			used[ next ] = 1;
			const [ a, b ] = segments[ next ];
			edge = a === edge ? b : a;
			line.push( edge );

		}

	};

	const lines = [];
	segments.forEach( ( [ a, b ], k ) => {

		if ( used[ k ] ) return;
		used[ k ] = 1;
		const forward = [ a, b ];
		walk( forward, b );
		const backward = [];
		walk( backward, a );
		lines.push( [ ...backward.reverse(), ...forward ] );

	} );
	return lines;

}
