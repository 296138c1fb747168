// A long list that makes elements only for the rows in and near its scrolled view: a catalog of 2,000
// surfaces made 2,000 rows, so each filter keystroke or tick laid them all out again (about 0.2 s a
// keystroke, 0.7 s to clear a filter). The rows above and below the ones made are left as space, from
// each row's height as last measured (an estimate for rows never made), so the scroll bar keeps
// the whole list's length. Rows keep their whole names, so their heights differ. The space of the rows
// not made is the list's ::before and ::after (style.css .windowed; padding would add to a max-height).

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
	const from = list.scrollTop - AROUND, to = list.scrollTop + Math.max( list.clientHeight, MIN_VIEW ) + AROUND;
	let first = 0, top = 0;
	while ( first < keys.length && top + size( keys[ first ] ) <= from ) top += size( keys[ first ++ ] );
	let end = first, bottom = top;
	while ( end < keys.length && bottom < to ) bottom += size( keys[ end ++ ] );
	let rest = 0;
	for ( let i = end; i < keys.length; i ++ ) rest += size( keys[ i ] );
	list.style.setProperty( '--above', `${ top }px` );
	list.style.setProperty( '--below', `${ rest }px` );
	const els = keyedList( list, items.slice( first, end ), key, create, update );
	if ( ! items.length && empty ) list.append( h( 'li', { class: 'muted' }, empty ) );
	els.forEach( ( el, i ) => {

		const height = el.getBoundingClientRect().height;
		if ( height ) w.heights.set( keys[ first + i ], height ); // 0: hidden (a closed drawer)

	} );
	return els;

}
