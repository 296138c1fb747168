// The 1-D view: curves of 1-D surfaces and slices of 2-D surfaces through the cursor. The y axis is
// the z scale it is given (main.js: the curves' own range, log and clipping included). The legend
// stands above the plot, where it covers no curve.

import { INK, PlotCanvas, fitText, nearestIndex } from './plot-canvas.js';

const LEGEND_FONT = '12px system-ui, sans-serif';
const ROW = 17, SWATCH = 24; // a legend row's height; a line sample and its gap before the name
const GAP_KEY = 'NaN or infinite (not drawn)'; // the legend's entry for the crosses that mark such points

export class LineView {

	constructor( canvas ) {

		this.plot = new PlotCanvas( canvas );
		this.curves = [];
		this.legendBox = [ 0, 0, 0, 0 ]; // x, y, width, height in canvas pixels
		this.noteLines = []; // the note under the plot as drawn
		this.gapMarks = []; // the crosses drawn on the x axis at points that are NaN: [{id, i, x, y}], canvas pixels

	}

	/**
	 * @param {{curves: Array<{id, name, color, coords: number[], values: Float64Array, done: Uint8Array}>,
	 *   zscale, xlabel: string, ylabel: string, note: string, cursor: ?{id, i}, inset: {top, right}}} view
	 */
	draw( { curves, zscale, xlabel, ylabel, note, cursor, inset } ) {

		this.curves = curves;
		this.zscale = zscale;
		const plot = this.plot, ctx = plot.ctx;
		const xs = curves.flatMap( ( c ) => [ c.coords[ 0 ], c.coords[ c.coords.length - 1 ] ] );
		const xr = xs.length ? [ Math.min( ...xs ), Math.max( ...xs ) ] : [ - 1, 1 ];
		if ( xr[ 1 ] === xr[ 0 ] ) xr[ 1 ] = xr[ 0 ] + 1;
		plot.begin( xr, [ - 0.03, 1.03 ], { inset } ); // the plot's width, for the legend's rows
		// points done but NaN (or infinite) break a curve: a cross on the x axis says which (the curve just ended)
		const gaps = curves.flatMap( ( curve ) => [ ...curve.values ].flatMap( ( v, i ) => ( curve.done[ i ] && Number.isNaN( v ) ? [ { curve, i } ] : [] ) ) );
		const legend = this._legendRows( curves, gaps.length > 0 );
		if ( legend.height ) plot.begin( xr, [ - 0.03, 1.03 ], { inset: { ...inset, top: plot.top + legend.height } } );
		plot.axes( plot.xTicks( xr[ 0 ], xr[ 1 ], 8 ), zscale.empty ? [] : zscale.ticks( 7 ).map( ( t ) => ( { pos: t.t, label: t.label } ) ), xlabel, ylabel );
		ctx.save();
		ctx.beginPath();
		ctx.rect( plot.left, plot.top, plot.right - plot.left, plot.bottom - plot.top );
		ctx.clip();
		for ( const curve of curves ) {

			ctx.strokeStyle = curve.color;
			ctx.fillStyle = curve.color;
			ctx.lineWidth = 2;
			ctx.beginPath();
			let drawing = false;
			curve.values.forEach( ( v, i ) => {

				const t = zscale.normalize( v );
				if ( ! Number.isFinite( t ) ) {

					drawing = false;
					return;

				}

				const X = plot.px( curve.coords[ i ] ), Y = plot.py( t );
				if ( drawing ) ctx.lineTo( X, Y );
				else ctx.moveTo( X, Y );
				drawing = true;

			} );
			ctx.stroke();
			if ( curve.values.length <= 101 ) {

				curve.values.forEach( ( v, i ) => {

					const t = zscale.normalize( v );
					if ( ! Number.isFinite( t ) || ! curve.done[ i ] ) return;
					ctx.beginPath();
					ctx.arc( plot.px( curve.coords[ i ] ), plot.py( t ), 2.2, 0, 2 * Math.PI );
					ctx.fill();

				} );

			}

		}

		ctx.restore();
		this.gapMarks = gaps.map( ( { curve, i } ) => { // whole at the plot's ends too: not clipped

			const x = plot.px( curve.coords[ i ] ), y = plot.bottom - 6;
			cross( ctx, x, y, curve.color );
			return { id: curve.id, i, x, y };

		} );
		this._legend( legend, note );
		const at = cursor && curves.find( ( c ) => c.id === cursor.id );
		if ( at ) {

			const X = plot.px( at.coords[ cursor.i ] );
			ctx.strokeStyle = 'rgba(255,255,255,0.5)';
			ctx.setLineDash( [ 4, 4 ] );
			ctx.beginPath(); ctx.moveTo( X, plot.top ); ctx.lineTo( X, plot.bottom ); ctx.stroke();
			ctx.setLineDash( [] );

		}

	}

	/** The legend's entries laid out in rows across the plot's width (names too long for it, on a
	 * phone, cut short), and the crosses' entry (curve null) after them with ``gapKey``:
	 * {items: [{curve, name, x, row}], height} in CSS pixels. */
	_legendRows( curves, gapKey ) {

		const ctx = this.plot.ctx, width = this.plot.right - this.plot.left;
		ctx.font = LEGEND_FONT;
		let x = 0, row = 0;
		const entries = gapKey ? [ ...curves, { name: GAP_KEY } ] : curves;
		const items = entries.map( ( entry ) => {

			const curve = entry.id === undefined ? null : entry;
			const name = fitText( ctx, entry.name, width - SWATCH );
			const w = SWATCH + ctx.measureText( name ).width;
			if ( x > 0 && x + w > width ) {

				x = 0;
				row ++;

			}

			const item = { curve, name, x, row };
			x += w + 18;
			return item;

		} );
		return { items, height: items.length ? ( row + 1 ) * ROW + 8 : 0 };

	}

	_legend( { items, height }, note ) {

		const ctx = this.plot.ctx, top = this.plot.top - height;
		ctx.font = LEGEND_FONT;
		ctx.textAlign = 'left';
		ctx.textBaseline = 'middle';
		const right = Math.max( 0, ...items.map( ( { name, x } ) => x + SWATCH + ctx.measureText( name ).width ) );
		this.legendBox = [ this.plot.left, top, right, height - 8 ];
		for ( const { curve, name, x, row } of items ) {

			const y = top + row * ROW + ROW / 2;
			if ( curve ) {

				ctx.fillStyle = curve.color;
				ctx.fillRect( this.plot.left + x, y - 1.5, 18, 3 );

			} else cross( ctx, this.plot.left + x + 9, y, INK );
			ctx.fillStyle = INK;
			ctx.fillText( name, this.plot.left + x + SWATCH, y );

		}

		// The note on two lines where one does not fit (a phone): the slice, then how to move it.
		const room = this.plot.canvas.clientWidth - this.plot.left - 8, cut = note ? note.indexOf( ' (' ) : - 1;
		const lines = ! note ? [] : cut < 0 || ctx.measureText( note ).width <= room ? [ note ] : [ note.slice( 0, cut ), note.slice( cut + 1 ) ];
		this.noteLines = lines.map( ( line ) => fitText( ctx, line, room ) );
		ctx.fillStyle = 'rgba(201,209,224,0.7)';
		this.noteLines.forEach( ( line, k ) => ctx.fillText( line, this.plot.left, this.plot.bottom + 48 + 14 * k ) );

	}

	/** The curve point nearest the pointer (in pixels, along x first): {curve, i}, or null. */
	pick( clientX, clientY ) {

		const at = this.plot.dataAt( clientX, clientY );
		if ( ! at ) return null;
		let best = null;
		for ( const curve of this.curves ) {

			const i = nearestIndex( curve.coords, at.x );
			const t = this.zscale.normalize( curve.values[ i ] );
			const d = Number.isFinite( t ) ? Math.abs( this.plot.py( t ) - this.plot.py( at.y ) ) : 1e9;
			if ( ! best || d < best.d ) best = { curve, i, d };

		}

		return best;

	}

	/** The legend's box in client coordinates ({left, top, right, bottom}). */
	legendRect() {

		const [ x, y, w, h ] = this.legendBox;
		const a = this.plot.client( x, y );
		return { left: a.x, top: a.y, right: a.x + w, bottom: a.y + h };

	}

	project( id, i ) {

		const curve = this.curves.find( ( c ) => c.id === id );
		const t = curve ? this.zscale.normalize( curve.values[ i ] ) : NaN;
		return Number.isFinite( t ) ? this.plot.client( this.plot.px( curve.coords[ i ] ), this.plot.py( t ) ) : null;

	}

}

/** A small × at (x, y) (canvas pixels): a point that is NaN. */
function cross( ctx, x, y, color ) {

	ctx.strokeStyle = color;
	ctx.lineWidth = 1.6;
	ctx.beginPath();
	ctx.moveTo( x - 3.5, y - 3.5 ); ctx.lineTo( x + 3.5, y + 3.5 );
	ctx.moveTo( x - 3.5, y + 3.5 ); ctx.lineTo( x + 3.5, y - 3.5 );
	ctx.stroke();

}
