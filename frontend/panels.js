// The side panels as plain DOM: catalog with comparison presets, overlaid layers (colour, opacity),
// and the details of each surface's recipe. They render state and report clicks; main.js decides.

import { formatNumber } from './scale.js';

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

const gridText = ( axis ) => ( axis ? `${ formatNumber( axis.min ) } … ${ formatNumber( axis.max ) } (${ axis.num })` : null );

/** Pairs of gallery surfaces of one model with and without shortcuts, as one-click presets. */
export function renderPresets( container, surfaces, onPreset ) {

	const byId = new Map( surfaces.map( ( s ) => [ s.id, s ] ) );
	const pairs = surfaces.filter( ( s ) => s.gallery && s.gallery.pair && s.gallery.shortcuts !== false && byId.has( s.gallery.pair ) );
	container.replaceChildren( ...( pairs.length ? [ h( 'small', { class: 'muted' }, 'Compare with and without shortcuts:' ) ] : [] ), ...pairs.map( ( s ) => h( 'button', {
		type: 'button', class: 'preset', dataset: { preset: s.id },
		title: `Overlay ${ s.name } and ${ byId.get( s.gallery.pair ).name } on one scale`,
		onclick: () => onPreset( [ s.id, s.gallery.pair ] ),
	}, `${ s.name } ± shortcuts` ) ) );

}

export function renderCatalog( list, surfaces, selected, filter, { onToggle, onSolo } ) {

	const needle = filter.trim().toLowerCase();
	const shown = surfaces.filter( ( s ) => ! needle || `${ s.name } ${ s.model } ${ s.dataset_label } ${ s.id }`.toLowerCase().includes( needle ) );
	list.replaceChildren( ...shown.map( ( s ) => h( 'li', { class: selected.includes( s.id ) ? 'on' : null, dataset: { id: s.id } },
		h( 'input', { type: 'checkbox', checked: selected.includes( s.id ), title: 'overlay', 'aria-label': `overlay ${ s.name }`, onchange: ( e ) => onToggle( s.id, e.target.checked ) } ),
		h( 'button', { type: 'button', class: 'name', title: 'show only this surface', onclick: () => onSolo( s.id ) },
			h( 'span', {}, s.name ),
			h( 'small', {}, [ s.model, s.dataset_label, s.ndim === 1 ? '1-D' : `${ s.grid.x.num }×${ s.grid.y ? s.grid.y.num : 1 }`,
				s.status === 'partial' ? `${ s.points_done }/${ s.points_total }` : null ].filter( Boolean ).join( ' · ' ) ),
		),
		s.source === 'gallery' ? h( 'span', { class: 'badge', title: 'gallery surface' }, s.gallery && s.gallery.tier === 'full' ? 'paper' : 'gallery' ) : null,
	) ) );

}

export function renderLayers( list, layers, { onColor, onOpacity, onRemove } ) {

	list.replaceChildren( ...layers.map( ( layer ) => h( 'li', { dataset: { id: layer.id } },
		h( 'input', { type: 'color', value: layer.color, title: 'colour', 'aria-label': `colour of ${ layer.name }`, oninput: ( e ) => onColor( layer.id, e.target.value ) } ),
		h( 'span', { class: 'name', title: layer.id }, layer.name ),
		h( 'input', { type: 'range', min: '0.1', max: '1', step: '0.05', value: String( layer.opacity ), title: 'opacity', 'aria-label': `opacity of ${ layer.name }`, oninput: ( e ) => onOpacity( layer.id, Number( e.target.value ) ) } ),
		h( 'button', { type: 'button', class: 'remove', title: 'remove', 'aria-label': `remove ${ layer.name }`, onclick: () => onRemove( layer.id ) }, '×' ),
	) ) );
	if ( ! layers.length ) list.append( h( 'li', { class: 'muted' }, 'No surface shown.' ) );

}

function table( rows ) {

	return h( 'table', {}, rows.filter( ( [ , v ] ) => v !== null && v !== undefined && v !== '' ).map( ( [ k, v ] ) => h( 'tr', {}, h( 'th', {}, k ), h( 'td', {}, String( v ) ) ) ) );

}

/** The recipe of every shown surface: model, data, directions, grid, centre values, statistics, gallery. */
export function renderDetails( container, layers ) {

	if ( ! layers.length ) {

		container.replaceChildren( h( 'p', { class: 'muted' }, 'Pick a surface on the left.' ) );
		return;

	}

	container.replaceChildren( ...layers.map( ( { summary: s, recipe, color } ) => {

		const d = s.directions;
		const stats = s.landscape_stats;
		const g = s.gallery;
		const params = recipe && recipe.model_params ? ` (${ ( recipe.model_params / 1e6 ).toFixed( 2 ) } M params)` : '';
		return h( 'article', { class: 'surface-details', dataset: { id: s.id } },
			h( 'h3', { style: `--swatch: ${ color }` }, s.name ),
			g && g.description ? h( 'p', { class: 'muted' }, g.description ) : null,
			table( [
				[ 'model', s.model + params ],
				[ 'dataset', s.dataset_label || s.dataset ],
				[ 'split', s.split ],
				[ 'samples', s.samples === null ? 'all' : s.samples ],
				[ 'directions', d ? `${ d.kind }, ${ d.norm } norm, ignore ${ d.ignore }, ${ d.dir_type }, seed ${ d.seed }` : 'from the file' ],
				[ 'grid x', gridText( s.grid.x ) ],
				[ 'grid y', gridText( s.grid.y ) ],
				...Object.entries( s.center || {} ).map( ( [ m, v ] ) => [ `centre ${ m }`, formatNumber( v, 5 ) ] ),
				[ 'status', s.status === 'complete' ? 'complete' : `partial: ${ s.points_done } of ${ s.points_total } points` ],
				[ 'non-convex share', stats && stats.nonconvex_share !== undefined && stats.nonconvex_share !== null
					? `${ ( 100 * stats.nonconvex_share ).toFixed( 1 ) } % of ${ stats.points } points within r ≤ ${ stats.radius } (${ stats.metric })` : null ],
				...( g ? [
					[ 'shortcuts', g.shortcuts === null || g.shortcuts === undefined ? null : ( g.shortcuts ? 'yes' : 'no' ) ],
					[ 'epochs', g.epochs ],
					[ 'test accuracy', g.test_acc === null || g.test_acc === undefined ? null : `${ formatNumber( g.test_acc, 4 ) } %` ],
					[ 'tier', g.tier ],
					[ 'source', g.source ],
				] : [] ),
			] ),
			h( 'a', { href: `/api/surfaces/${ encodeURIComponent( s.id ) }/file`, download: `${ s.id }.h5` }, 'download HDF5' ),
		);

	} ) );

}
