// Canvas 2D plumbing shared by the flat views: a canvas sized to its box at device resolution, a plot
// rectangle with data <-> pixel maps, and numbered axes.

import { niceTicks, tickLabels } from './scale.js';

export const INK = '#c9d1e0';
const GRID = 'rgba(120,135,160,0.18)', BG = '#10141b';
const TICK_FONT = '12px system-ui, sans-serif', TICK_GAP = 12; // px at least between two x tick labels

/** Index of the coordinate nearest to ``v`` in an increasing array. */
export function nearestIndex( coords, v ) {

	let lo = 0, hi = coords.length - 1;
	while ( hi - lo > 1 ) {

		const mid = ( lo + hi ) >> 1;
		if ( coords[ mid ] <= v ) lo = mid;
		else hi = mid;

	}

	return Math.abs( coords[ hi ] - v ) < Math.abs( coords[ lo ] - v ) ? hi : lo;

}

/** ``text`` cut to ``width`` pixels in the context's font, with an ellipsis where it was cut. */
export function fitText( ctx, text, width ) {

	if ( ctx.measureText( text ).width <= width ) return text;
	let n = text.length;
	while ( n > 1 && ctx.measureText( `${ text.slice( 0, n ) }…` ).width > width ) n --;
	return `${ text.slice( 0, n ).trimEnd() }…`;

}

/** ``text`` in lines of at most ``width`` CSS px in ``ctx``'s font (a word longer than that: a line of its own). */
export function wrapWords( ctx, text, width ) {

	const lines = [];
	for ( const word of text.split( ' ' ) ) {

		const last = lines.length ? `${ lines[ lines.length - 1 ] } ${ word }` : null;
		if ( last !== null && ctx.measureText( last ).width <= width ) lines[ lines.length - 1 ] = last;
		else lines.push( word );

	}

	return lines;

}

/** A canvas sized to its box at device resolution, with a plot rectangle and data <-> pixel maps. */
export class PlotCanvas {

	constructor( canvas ) {

		this.canvas = canvas;
		this.ctx = canvas.getContext( '2d' );

	}

	/** Clear and lay out for data ranges ``xr`` and ``yr``; ``equalAspect`` gives both axes one scale;
	 * ``inset``: the plot's top and right margins in CSS pixels (room for the title and the colour bar
	 * drawn over the canvas; ``bottom``: the bottom margin instead of the axes' own; ``alignTop``: an
	 * equal-aspect plot starts at the top margin, not centred between the margins). */
	begin( xr, yr, { equalAspect = false, inset = {} } = {} ) {

		const dpr = window.devicePixelRatio || 1;
		const w = this.canvas.clientWidth || 1, h = this.canvas.clientHeight || 1;
		if ( this.canvas.width !== Math.round( w * dpr ) || this.canvas.height !== Math.round( h * dpr ) ) {

			this.canvas.width = Math.round( w * dpr );
			this.canvas.height = Math.round( h * dpr );

		}

		const ctx = this.ctx;
		ctx.setTransform( dpr, 0, 0, dpr, 0, 0 );
		ctx.fillStyle = BG;
		ctx.fillRect( 0, 0, w, h );
		let left = 78, right = w - ( inset.right ?? 130 ), top = Math.max( 64, inset.top ?? 0 ), bottom = h - ( inset.bottom ?? 72 );
		if ( bottom - top < 80 ) top = Math.max( 24, bottom - 80 ); // a short view: the plot before the title's room
		if ( equalAspect ) {

			const s = Math.min( ( right - left ) / ( xr[ 1 ] - xr[ 0 ] ), ( bottom - top ) / ( yr[ 1 ] - yr[ 0 ] ) );
			const pw = s * ( xr[ 1 ] - xr[ 0 ] ), ph = s * ( yr[ 1 ] - yr[ 0 ] );
			left += ( right - left - pw ) / 2;
			if ( ! inset.alignTop ) top += ( bottom - top - ph ) / 2;
			right = left + pw;
			bottom = top + ph;

		}

		Object.assign( this, { xr, yr, left, right, top, bottom } );

	}

	px( x ) {

		return this.left + ( x - this.xr[ 0 ] ) / ( this.xr[ 1 ] - this.xr[ 0 ] ) * ( this.right - this.left );

	}

	py( y ) {

		return this.bottom - ( y - this.yr[ 0 ] ) / ( this.yr[ 1 ] - this.yr[ 0 ] ) * ( this.bottom - this.top );

	}

	dataAt( clientX, clientY ) {

		const rect = this.canvas.getBoundingClientRect();
		const X = clientX - rect.left, Y = clientY - rect.top;
		if ( X < this.left - 4 || X > this.right + 4 || Y < this.top - 4 || Y > this.bottom + 4 ) return null;
		return {
			x: this.xr[ 0 ] + ( X - this.left ) / ( this.right - this.left ) * ( this.xr[ 1 ] - this.xr[ 0 ] ),
			y: this.yr[ 0 ] + ( this.bottom - Y ) / ( this.bottom - this.top ) * ( this.yr[ 1 ] - this.yr[ 0 ] ),
		};

	}

	/** The plot rectangle in client coordinates. */
	rect() {

		const r = this.canvas.getBoundingClientRect();
		return { left: r.left + this.left, top: r.top + this.top, right: r.left + this.right, bottom: r.top + this.bottom };

	}

	client( px, py ) {

		const rect = this.canvas.getBoundingClientRect();
		return { x: rect.left + px, y: rect.top + py };

	}

	/** Round x ticks over [lo, hi], about ``most`` of them or fewer: as many as leave their labels
	 * TICK_GAP apart across the plot's width (a phone's plot holds fewer). Call after begin(). */
	xTicks( lo, hi, most ) {

		const ctx = this.ctx;
		ctx.font = TICK_FONT;
		for ( let n = most; n > 2; n -- ) {

			const ticks = niceTicks( lo, hi, n );
			if ( ticks.length < 2 ) return ticks;
			const widest = Math.max( ...tickLabels( ticks ).map( ( label ) => ctx.measureText( label ).width ) );
			if ( widest + TICK_GAP <= this.px( ticks[ 1 ] ) - this.px( ticks[ 0 ] ) ) return ticks;

		}

		return niceTicks( lo, hi, 2 );

	}

	/** Frame, grid lines and numbered ticks; ``yticks`` are [{pos, label}] in data units of the y axis.
	 * this.xLabels: the x tick labels as drawn, [{value, text, left, right}] in canvas CSS pixels;
	 * this.names: {x: xlabel, y: ylabel}. */
	axes( xticks, yticks, xlabel, ylabel ) {

		const ctx = this.ctx;
		this.names = { x: xlabel, y: ylabel };
		ctx.strokeStyle = GRID;
		ctx.lineWidth = 1;
		ctx.fillStyle = INK;
		ctx.font = TICK_FONT;
		ctx.textAlign = 'center';
		ctx.textBaseline = 'top';
		const xlabels = tickLabels( xticks );
		this.xLabels = xticks.map( ( x, i ) => {

			const X = Math.round( this.px( x ) ) + 0.5, w = ctx.measureText( xlabels[ i ] ).width;
			ctx.beginPath(); ctx.moveTo( X, this.top ); ctx.lineTo( X, this.bottom ); ctx.stroke();
			ctx.fillText( xlabels[ i ], X, this.bottom + 7 );
			return { value: x, text: xlabels[ i ], left: X - w / 2, right: X + w / 2 };

		} );

		ctx.textAlign = 'right';
		ctx.textBaseline = 'middle';
		for ( const { pos, label } of yticks ) {

			const Y = Math.round( this.py( pos ) ) + 0.5;
			ctx.beginPath(); ctx.moveTo( this.left, Y ); ctx.lineTo( this.right, Y ); ctx.stroke();
			ctx.fillText( label, this.left - 8, Y );

		}

		ctx.strokeStyle = 'rgba(160,170,190,0.6)';
		ctx.strokeRect( this.left + 0.5, this.top + 0.5, this.right - this.left, this.bottom - this.top );
		ctx.font = '600 12px system-ui, sans-serif';
		ctx.textAlign = 'center';
		ctx.textBaseline = 'top';
		ctx.fillText( xlabel, ( this.left + this.right ) / 2, this.bottom + 26 );
		ctx.save();
		ctx.translate( this.left - 56, ( this.top + this.bottom ) / 2 );
		ctx.rotate( - Math.PI / 2 );
		ctx.textBaseline = 'middle';
		ctx.fillText( ylabel, 0, 0 );
		ctx.restore();

	}

}

/** Top-down map: colour map of one surface, or each overlaid surface's contours in its colour. */
