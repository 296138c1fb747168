// Perceptual colour maps (matplotlib's viridis/magma/inferno sampled at ten stops, Moreland's cool-warm)
// and the numbered colour bar drawn beside the view.

const HEX = {
	viridis: [ '440154', '482878', '3e4a89', '31688e', '26828e', '1f9e89', '35b779', '6dcd59', 'b4de2c', 'fde725' ],
	magma: [ '000004', '180f3e', '451077', '721f81', '9f2f7f', 'cd4071', 'f1605d', 'fd9567', 'fec98d', 'fcfdbf' ],
	inferno: [ '000004', '1b0c42', '4b0c6b', '781c6d', 'a52c60', 'cf4446', 'ed6925', 'fb9a06', 'f7d03c', 'fcffa4' ],
	coolwarm: [ '3b4cc0', '6282ea', '8db0fe', 'b8d0f9', 'dddddd', 'f5c4ac', 'f49a7b', 'de604d', 'b40426' ],
};

const STOPS = Object.fromEntries( Object.entries( HEX ).map( ( [ name, list ] ) => [
	name, list.map( ( h ) => [ 0, 2, 4 ].map( ( i ) => parseInt( h.slice( i, i + 2 ), 16 ) / 255 ) ),
] ) );

export const COLORMAPS = Object.keys( STOPS );

/** Colour of ``t`` in [0, 1] (clamped) as [r, g, b] in [0, 1]. */
export function colorAt( name, t ) {

	const stops = STOPS[ name ] || STOPS.viridis;
	const u = Math.min( 1, Math.max( 0, Number.isFinite( t ) ? t : 0 ) ) * ( stops.length - 1 );
	const i = Math.min( stops.length - 2, Math.floor( u ) );
	const f = u - i;
	const a = stops[ i ], b = stops[ i + 1 ];
	return [ a[ 0 ] + ( b[ 0 ] - a[ 0 ] ) * f, a[ 1 ] + ( b[ 1 ] - a[ 1 ] ) * f, a[ 2 ] + ( b[ 2 ] - a[ 2 ] ) * f ];

}

function cssColor( name, t ) {

	const [ r, g, b ] = colorAt( name, t ).map( ( c ) => Math.round( c * 255 ) );
	return `rgb(${ r },${ g },${ b })`;

}

/**
 * Draw a vertical colour bar with numbered ticks into ``canvas``.
 * ``scale`` is a ZScale (ticks() -> [{value, t, label}]); ``label`` names the metric.
 */
export function drawColorBar( canvas, name, scale, label ) {

	const dpr = window.devicePixelRatio || 1;
	const cssW = canvas.clientWidth || 90, cssH = canvas.clientHeight || 300;
	canvas.width = Math.round( cssW * dpr );
	canvas.height = Math.round( cssH * dpr );
	canvas.setAttribute( 'aria-label', `colour bar: ${ label }` );
	const ctx = canvas.getContext( '2d' );
	ctx.setTransform( dpr, 0, 0, dpr, 0, 0 );
	ctx.clearRect( 0, 0, cssW, cssH );
	const x = 8, w = 14, top = scale.log ? 36 : 24, bottom = cssH - 10, h = bottom - top;
	for ( let py = 0; py < h; py ++ ) {

		ctx.fillStyle = cssColor( name, 1 - py / ( h - 1 ) );
		ctx.fillRect( x, top + py, w, 1 );

	}

	ctx.strokeStyle = 'rgba(230,235,245,0.6)';
	ctx.strokeRect( x + 0.5, top + 0.5, w - 1, h - 1 );
	ctx.fillStyle = '#d8dee9';
	ctx.font = '11px system-ui, sans-serif';
	ctx.textBaseline = 'middle';
	for ( const tick of scale.ticks( 7 ) ) {

		const py = top + ( 1 - tick.t ) * h;
		ctx.fillRect( x + w, Math.round( py ), 4, 1 );
		ctx.fillText( tick.label, x + w + 7, py );

	}

	ctx.textBaseline = 'alphabetic';
	ctx.font = '600 11px system-ui, sans-serif';
	ctx.fillText( label, 2, 12, cssW - 4 );
	if ( scale.log ) {

		ctx.font = '11px system-ui, sans-serif';
		ctx.fillText( 'log scale', 2, 25 );

	}

}
