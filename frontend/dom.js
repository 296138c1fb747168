// DOM helpers shared by the panels: an element builder, a by-id lookup and a keyed list that updates
// its items in place (so a slider being dragged or a focused checkbox is never replaced).

export const $ = ( id ) => document.getElementById( id );

/** Tiny element builder: h('li', {class: 'x', onclick}, child, 'text', ...). */
export function h( tag, attrs = {}, ...children ) {

	const el = document.createElement( tag );
	for ( const [ key, value ] of Object.entries( attrs ) ) {

		if ( value === undefined || value === null || value === false ) continue;
		if ( key.startsWith( 'on' ) ) el.addEventListener( key.slice( 2 ), value );
		else if ( key === 'dataset' ) Object.assign( el.dataset, value );
		else if ( key in el && typeof value !== 'string' ) el[ key ] = value;
		else el.setAttribute( key, value === true ? '' : value );

	}

	el.append( ...children.flat().filter( ( c ) => c !== null && c !== undefined && c !== false ) );
	return el;

}

/**
 * Make ``list``'s children one element per item, in order: an item whose key (data-key) is already
 * there keeps its element and gets ``update(el, item)``; new ones come from ``create(item)``; the
 * rest are removed. Returns the elements.
 */
export function keyedList( list, items, key, create, update ) {

	const old = new Map( [ ...list.children ].filter( ( el ) => el.dataset.key !== undefined ).map( ( el ) => [ el.dataset.key, el ] ) );
	const els = items.map( ( item ) => {

		const k = String( key( item ) );
		let el = old.get( k );
		old.delete( k );
		if ( ! el ) {

			el = create( item );
			el.dataset.key = k;

		}

		update( el, item );
		return el;

	} );
	for ( const el of old.values() ) el.remove();
	for ( const el of [ ...list.children ] ) if ( el.dataset.key === undefined ) el.remove();
	els.forEach( ( el, i ) => {

		if ( list.children[ i ] !== el ) list.insertBefore( el, list.children[ i ] || null );

	} );
	return els;

}

/** Set an input's value unless the user is working in it. */
export function setValue( input, value ) {

	if ( document.activeElement !== input && input.value !== String( value ) ) input.value = String( value );

}
