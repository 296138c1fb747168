// PNG export: the current view with its surface names and colour bar, composed onto one canvas as the
// screen shows them (side-by-side panes framed, each named in its corner, the caption above them, its
// lines wrapped and its warnings in their colour), at the resolution of the view's own canvas.

import { $ } from './dom.js';
import { wrapWords } from './plot-canvas.js';

const BG = '#10141b', LINE = '#262e3d', INK = '#e5e9f0', MUTED = '#9aa5b8', WARN = '#ffc15e'; // style.css --bg, --line, --warn
// as the title over the view (style.css .title: 13px type, 1.4 line height, 2px above each muted line)
const NAME_FONT = '600 13px system-ui, sans-serif', CAPTION_FONT = '13px system-ui, sans-serif';
const LINE_H = 18, CAPTION_H = 20; // CSS px per name and per caption line

/** A name with its colour swatch at (x, y) (CSS px, top left), cut to ``width``; ``swatch`` false: a
 * further line of a wrapped name, under the first one's text. Sets the context's font. */
function drawName( ctx, { name, color }, x, y, width, swatch = true ) {

	ctx.save();
	ctx.beginPath();
	ctx.rect( x, y, width, LINE_H );
	ctx.clip();
	ctx.fillStyle = color;
	if ( swatch ) ctx.fillRect( x, y + 2, 10, 10 );
	ctx.font = NAME_FONT;
	ctx.fillStyle = INK;
	ctx.fillText( name, x + 16, y );
	ctx.restore();

}

/** A name wrapped as the screen wraps it, in lines of at most ``width`` CSS px (swatch included) from
 * (x, y); returns how many lines it took. */
function drawWrappedName( ctx, name, x, y, width ) {

	ctx.font = NAME_FONT;
	const rows = wrapWords( ctx, name.name, width - 16 );
	rows.forEach( ( row, k ) => drawName( ctx, { ...name, name: row }, x, y + k * LINE_H, width, k === 0 ) );
	return rows.length;

}

/** The caption's lines, each wrapped at ``width`` CSS px (as the title wraps on the screen). */
function wrapCaption( caption, width ) {

	const ctx = document.createElement( 'canvas' ).getContext( '2d' );
	ctx.font = CAPTION_FONT;
	return caption.flatMap( ( { text, warn } ) => wrapWords( ctx, text, width ).map( ( line ) => ( { text: line, warn } ) ) );

}

/**
 * @param {{main: HTMLCanvasElement, bar: ?HTMLCanvasElement, names: Array<{name, color}>, caption: Array<{text, warn}>,
 *   panes: ?{cols: number, rows: number}, file: string, barAt: ?{x, y, w, h}}} view
 *   ``barAt``: where the screen shows the colour bar under the view (a phone), in CSS px from the view's
 *   top left; the picture puts it there too (else to the right of the view).
 *   ``main`` must hold a fresh frame (read in the same task as it was rendered); with ``panes``, names[i]
 *   names pane i (row by row) and the caption goes in a strip above them, else all lie over the top left.
 */
export async function exportPNG( { main, bar, barAt = null, names, caption, panes, file } ) {

	const s = main.width / ( main.clientWidth || main.width ); // device pixels per CSS pixel of the view
	const lines = wrapCaption( caption, main.width / s - 28 );
	const head = panes ? Math.round( ( 8 + CAPTION_H * lines.length ) * s ) : 0;
	const barW = bar ? Math.round( bar.clientWidth * s ) : 0, barH = bar ? Math.round( bar.clientHeight * s ) : 0;
	const out = document.createElement( 'canvas' );
	out.width = main.width + ( barAt ? 0 : barW );
	out.height = head + Math.max( main.height, barAt ? Math.round( ( barAt.y + barAt.h + 8 ) * s ) : 0 );
	const ctx = out.getContext( '2d' );
	ctx.fillStyle = BG;
	ctx.fillRect( 0, 0, out.width, out.height );
	ctx.drawImage( main, 0, head );
	if ( bar && barAt ) ctx.drawImage( bar, barAt.x * s, head + barAt.y * s, barAt.w * s, barAt.h * s );
	else if ( bar ) ctx.drawImage( bar, main.width, head + Math.max( 0, ( main.height - barH ) / 2 ), barW, barH );
	ctx.scale( s, s );
	ctx.textBaseline = 'top';
	let y = 12;
	if ( panes ) {

		const w = main.width / s / panes.cols, h = main.height / s / panes.rows;
		ctx.strokeStyle = LINE;
		ctx.lineWidth = 1;
		names.forEach( ( name, i ) => {

			const x = ( i % panes.cols ) * w, top = head / s + Math.floor( i / panes.cols ) * h;
			ctx.strokeRect( x + 0.5, top + 0.5, w - 1, h - 1 );
			drawWrappedName( ctx, name, x + 10, top + 6, w - 20 ); // as .pane-cells .layer-title wraps

		} );
		y = 8;

	} else {

		// in a row, wrapped at the view's width (style.css .layer-title: inline, 14px apart); a name
		// longer than the row takes lines of its own, as it wraps on the screen
		const right = main.width / s - 14;
		let x = 14;
		ctx.font = NAME_FONT;
		for ( const name of names ) {

			const w = 16 + ctx.measureText( name.name ).width;
			if ( x > 14 && x + w > right ) [ x, y ] = [ 14, y + LINE_H ];
			if ( w <= right - 14 ) {

				drawName( ctx, name, x, y, right - x );
				x += w + 14;
				continue;

			}

			y += LINE_H * ( drawWrappedName( ctx, name, 14, y, right - 14 ) - 1 );
			x = right; // the next name starts a row

		}

		if ( names.length ) y += LINE_H;

	}

	ctx.font = CAPTION_FONT;
	for ( const line of lines ) {

		ctx.fillStyle = line.warn ? WARN : MUTED;
		ctx.fillText( line.text, 14, y + CAPTION_H - LINE_H );
		y += CAPTION_H;

	}

	const blob = await new Promise( ( resolve ) => out.toBlob( resolve, 'image/png' ) );
	if ( ! blob ) throw new Error( 'the browser could not encode the PNG' );
	const url = URL.createObjectURL( blob );
	const a = document.createElement( 'a' );
	a.href = url;
	a.download = file;
	document.body.append( a );
	a.click();
	a.remove();
	setTimeout( () => URL.revokeObjectURL( url ), 1000 );

}

/** What exportPNG composes from the app's current view: its canvas (a fresh 3-D frame), the colour
 * bar, the surfaces' names and colours, the title's caption lines, the panes and a file name. */
export function exportSources( app ) {

	const view = app.state.view;
	const main = view === '3d' ? app.viewport.snapshot() : $( view === 'map' ? 'view-map' : 'view-1d' );
	const bar = $( 'colorbar' ).hidden ? null : $( 'colorbar' ).querySelector( 'canvas' );
	const names = app.shown.map( ( l ) => ( { name: l.name, color: l.color } ) );
	const file = `lossatlas-${ app.state.ids.join( '+' ) || 'view' }-${ app.state.metric || '' }.png`;
	const caption = [ ...$( 'title' ).querySelectorAll( '.muted, .warn' ) ].map( ( el ) => ( { text: el.textContent, warn: el.classList.contains( 'warn' ) } ) );
	const panes = view === '3d' && app.viewport.panes > 1 ? app.viewport.grid : null;
	let barAt = null; // the bar under the view on the screen (style.css .bar-under, .colorbar.under): there in the picture
	if ( bar && ( $( 'colorbar' ).classList.contains( 'under' ) || $( 'colorbar' ).closest( '.bar-under' ) ) ) {

		const r = bar.getBoundingClientRect(), v = $( view === '3d' ? 'view-3d' : main.id ).getBoundingClientRect();
		barAt = { x: r.left - v.left, y: r.top - v.top, w: r.width, h: r.height };

	}

	return { main, bar, barAt, names, caption, panes, file };

}
