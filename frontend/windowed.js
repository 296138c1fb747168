// A long list that makes elements only for the rows in and near its scrolled view: a catalog of 2,000
// surfaces made 2,000 rows, so each filter keystroke or tick laid them all out again (about 0.2 s a
// keystroke, 0.7 s to clear a filter). The rows above and below the ones made are left as space, from
// each row's height as last measured (an estimate for rows never made), so the scroll bar keeps
// the whole list's length. Rows keep their whole names, so their heights differ. The space of the rows
// not made is the list's ::before and ::after (style.css .windowed; padding would add to a max-height).
// The row holding the focus stays made, with its neighbours, where it lies (a space between it and the
// rows in view): a row scrolled away took the focus with it, and a keyboard user lost their place.

import { h, keyedList } from './dom.js';

const AROUND = 400; // px of rows made above and below the view
const MIN_VIEW = 600; // px made when the list shows nothing yet (a closed drawer): its first rows
const GUESS = 40; // px: a row's height before any was measured

const lists = new WeakMap(); // list element -> { heights: Map(key -> px), args, queued }

/** keyedList( list, items, key, create, update ) for the rows of ``items`` in and near ``list``'s
 * view; ``list`` scrolls itself (overflow-y). Scrolling or resizing the list makes the rows come in
 * view. ``empty``: a line shown when there are no items. Returns the elements made. */
export function windowedList( list, items, key, create, update, empty = '' ) {

	let w = lists.get( list );
	if ( ! w ) {

		w = { heights: new Map(), queued: false };
		lists.set( list, w );
		const again = () => {

			if ( w.queued ) return;
			w.queued = true;
			requestAnimationFrame( () => {

				w.queued = false;
				draw( list, w );

			} );

		};

		list.addEventListener( 'scroll', again, { passive: true } );
		new ResizeObserver( again ).observe( list ); // shown (a drawer opened), or narrower: rows wrap
		list.classList.add( 'windowed' );

	}

	w.args = { items, key, create, update, empty };
	return draw( list, w );

}

function draw( list, w ) {

	const { items, key, create, update, empty } = w.args;
	const keys = items.map( ( item ) => String( key( item ) ) );
	const measured = [ ...w.heights.values() ];
	const guess = measured.length ? measured.reduce( ( a, b ) => a + b ) / measured.length : GUESS;
	const size = ( k ) => w.heights.get( k ) ?? guess;
	const span = ( a, b ) => keys.slice( a, b ).reduce( ( px, k ) => px + size( k ), 0 ); // rows a to b - 1
	const from = list.scrollTop - AROUND, to = list.scrollTop + Math.max( list.clientHeight, MIN_VIEW ) + AROUND;
	let first = 0, top = 0;
	while ( first < keys.length && top + size( keys[ first ] ) <= from ) top += size( keys[ first ++ ] );
	let end = first, bottom = top;
	while ( end < keys.length && bottom < to ) bottom += size( keys[ end ++ ] );
	const ranges = withFocus( [ first, end ], keys.indexOf( focusedKey( list ) ), keys.length );
	const last = ranges[ ranges.length - 1 ];
	list.style.setProperty( '--above', `${ span( 0, ranges[ 0 ][ 0 ] ) }px` );
	list.style.setProperty( '--below', `${ span( last[ 1 ], keys.length ) }px` );
	const made = ranges.flatMap( ( [ a, b ] ) => keys.slice( a, b ).map( ( k, i ) => [ k, items[ a + i ] ] ) );
	const els = keyedList( list, made.map( ( [ , item ] ) => item ), key, create, update );
	if ( ranges.length > 1 ) { // the space between the focused row's block and the rows in view

		const gap = h( 'li', { class: 'gap', 'aria-hidden': 'true', style: `height: ${ span( ranges[ 0 ][ 1 ], ranges[ 1 ][ 0 ] ) }px; padding: 0` } );
		list.insertBefore( gap, els[ ranges[ 0 ][ 1 ] - ranges[ 0 ][ 0 ] ] );

	}

	if ( ! items.length && empty ) list.append( h( 'li', { class: 'muted' }, empty ) );
	els.forEach( ( el, i ) => {

		const height = el.getBoundingClientRect().height;
		if ( height ) w.heights.set( made[ i ][ 0 ], height ); // 0: hidden (a closed drawer)

	} );
	return els;

}

/** The key of the row of ``list`` that holds the focus, if any. */
function focusedKey( list ) {

	let el = document.activeElement;
	if ( ! el || el === list || ! list.contains( el ) ) return undefined;
	while ( el.parentElement !== list ) el = el.parentElement;
	return el.dataset.key;

}

/** The rows to make: ``[first, end)`` in view, and row ``f`` (-1: none) with the rows before and after
 * it (Tab and Shift+Tab lead there), as one range where they meet, else two in order. */
function withFocus( [ first, end ], f, n ) {

	if ( f < 0 || ( f >= first && f < end ) ) return [ [ first, end ] ];
	const a = Math.max( 0, f - 1 ), b = Math.min( n, f + 2 );
	if ( b >= first && a <= end ) return [ [ Math.min( a, first ), Math.max( b, end ) ] ];
	return a < first ? [ [ a, b ], [ first, end ] ] : [ [ first, end ], [ a, b ] ];

}
