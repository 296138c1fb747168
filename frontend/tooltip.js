// The hover tooltip: a small table of what lies under the cursor, read from the surface data.
// Each row carries data-key (x, y, value, surface, ...) so tests and scripts can read it back.

export class Tooltip {

	/** @param {HTMLElement} element the (initially hidden) tooltip box inside the viewport */
	constructor( element ) {

		this.element = element;

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
		const w = el.offsetWidth, h = el.offsetHeight;
		let left = clientX - box.left + 16, top = clientY - box.top + 16;
		if ( left + w > box.width - 8 ) left = clientX - box.left - w - 16;
		if ( top + h > box.height - 8 ) top = clientY - box.top - h - 16;
		el.style.transform = `translate(${ Math.max( 4, left ) }px, ${ Math.max( 4, top ) }px)`;

	}

	hide() {

		this.element.hidden = true;

	}

}
