// The hover tooltip: a small table of what lies under the cursor, read from the surface data.
// Each row carries data-key (x, y, value, surface, ...) so tests and scripts can read it back.

const MARGIN = 4; // px kept free between the tooltip and the view's edges
const FINGER = 44; // px: a fingertip around a tapped point hides this much of the view

const clamp = ( v, lo, hi ) => Math.max( lo, Math.min( v, hi ) );

/** Beside a mouse pointer: below right of it, flipped left or up where the view ends. */
function besidePointer( { x, y, w, h, W, H } ) {

	let left = x + 16, top = y + 16;
	if ( left + w > W - 8 ) left = x - w - 16;
	if ( top + h > H - 8 ) top = y - h - 16;
	return [ Math.max( MARGIN, left ), Math.max( MARGIN, top ) ];

}

/** For a tap: above the finger (the hand lies below it) and centred on it; where the view has no room
 * above, beside the finger on the side with more room; else below it. Always within the view, never
 * over the tapped point. */
function aboveFinger( { x, y, w, h, W, H } ) {

	const centred = clamp( x - w / 2, MARGIN, W - w - MARGIN );
	if ( y - FINGER - h >= MARGIN ) return [ centred, y - FINGER - h ];
	const top = clamp( y - h / 2, MARGIN, H - h - MARGIN );
	if ( x - FINGER - w >= MARGIN ) return [ x - FINGER - w, top ];
	if ( x + FINGER + w <= W - MARGIN ) return [ x + FINGER, top ];
	return [ centred, clamp( y + FINGER, MARGIN, H - h - MARGIN ) ];

}

export class Tooltip {

	/** @param {HTMLElement} element the (initially hidden) tooltip box inside the viewport */
	constructor( element ) {

		this.element = element;
		this.finger = false; // shown for a tap: placed clear of the finger, not beside a mouse pointer

	}

	/**
	 * @param {number} clientX pointer position
	 * @param {number} clientY
	 * @param {{title?: string, color?: string, rows: Array<[key: string, label: string, text: string, color?: string]>}} content
	 */
	show( clientX, clientY, { title, color, rows } ) {

		const el = this.element;
		el.replaceChildren();
		if ( title ) {

			const head = document.createElement( 'div' );
			head.className = 'tt-title';
			head.dataset.key = 'surface';
			if ( color ) head.style.setProperty( '--swatch', color );
			head.textContent = title;
			el.append( head );

		}

		for ( const [ key, label, text, color ] of rows ) {

			const row = document.createElement( 'div' );
			row.className = text ? 'tt-row' : 'tt-row tt-head';
			row.dataset.key = key;
			if ( color ) {

				row.classList.add( 'tt-swatch' );
				row.style.setProperty( '--swatch', color );

			}

			const name = document.createElement( 'span' );
			name.textContent = label;
			const value = document.createElement( 'b' );
			value.textContent = text;
			row.append( name, value );
			el.append( row );

		}

		el.hidden = false;
		const box = el.parentElement.getBoundingClientRect();
		const at = { x: clientX - box.left, y: clientY - box.top, w: el.offsetWidth, h: el.offsetHeight, W: box.width, H: box.height };
		const [ left, top ] = this.finger ? aboveFinger( at ) : besidePointer( at );
		el.style.transform = `translate(${ left }px, ${ top }px)`;

	}

	hide() {

		this.element.hidden = true;

	}

}
