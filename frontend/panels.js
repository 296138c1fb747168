// The side panels as plain DOM: catalog with comparison presets, overlaid layers (colour, opacity),
// the difference builder, and the details of each surface's recipe and how it was computed (of a
// difference: A's and B's directions, with a warning when they differ). They render state and
// report clicks; main.js decides. Lists update in place (keyedList), so a control being used is
// never replaced under the pointer or the keyboard.

import { metricName } from './captions.js';
import { isDifference } from './compare.js';
import { h, keyedList, setValue } from './dom.js';
import { RATIO_LABEL, curvatureDetails } from './curvature.js';
import { directionsText } from './directions.js';
import { formatMetric, formatNumber, isAccuracy } from './scale.js';
import { windowedList } from './windowed.js';

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

/** The catalog's rows (those in and near its scrolled view: windowed.js) of the surfaces that match
 * ``filter``; returns how many match. */
export function renderCatalog( list, surfaces, selected, filter, { onToggle, onSolo } ) {

	const needle = filter.trim().toLowerCase();
	const shown = surfaces.filter( ( s ) => ! needle || `${ s.name } ${ s.model } ${ s.dataset_label } ${ s.id }`.toLowerCase().includes( needle ) );
	windowedList( list, shown, ( s ) => s.id, ( s ) => h( 'li', { dataset: { id: s.id } },
		h( 'input', { type: 'checkbox', title: 'overlay', 'aria-label': `overlay ${ s.name }`, onchange: ( e ) => onToggle( s.id, e.target.checked ) } ),
		h( 'button', { type: 'button', class: 'name', title: `show only this surface (${ s.id })`, onclick: () => onSolo( s.id ) },
			h( 'span', {}, s.name ),
			h( 'small', {} ),
		),
		s.source === 'gallery' ? h( 'span', { class: 'badge', title: 'gallery surface' }, s.gallery && s.gallery.tier === 'full' ? 'paper' : 'gallery' ) : null,
	), ( li, s ) => {

		const on = selected.includes( s.id );
		li.classList.toggle( 'on', on );
		li.querySelector( 'input' ).checked = on;
		li.querySelector( 'small' ).textContent = [ s.model, s.dataset_label, s.ndim === 1 ? '1-D' : `${ s.grid.x.num }×${ s.grid.y ? s.grid.y.num : 1 }`,
			s.status === 'partial' ? `${ s.points_done }/${ s.points_total }` : null ].filter( Boolean ).join( ' · ' );

	}, needle ? `No surface matches “${ filter.trim() }”.` : '' );
	return shown.length;

}

export function renderLayers( list, layers, { onColor, onOpacity, onRemove } ) {

	keyedList( list, layers, ( l ) => l.id, ( layer ) => h( 'li', { dataset: { id: layer.id } },
		h( 'input', { type: 'color', title: 'colour', 'aria-label': `colour of ${ layer.name }`, oninput: ( e ) => onColor( layer.id, e.target.value ) } ),
		h( 'span', { class: 'name', title: layer.id } ),
		h( 'input', { type: 'range', min: '0.1', max: '1', step: '0.05', title: 'opacity', 'aria-label': `opacity of ${ layer.name }`, oninput: ( e ) => onOpacity( layer.id, Number( e.target.value ) ) } ),
		h( 'button', { type: 'button', class: 'remove', title: 'remove', 'aria-label': `remove ${ layer.name }`, onclick: () => onRemove( layer.id ) }, '×' ),
	), ( li, layer ) => {

		setValue( li.querySelector( 'input[type=color]' ), layer.color );
		setValue( li.querySelector( 'input[type=range]' ), layer.opacity );
		li.querySelector( '.name' ).textContent = layer.name;

	} );
	if ( ! layers.length ) list.append( h( 'li', { class: 'muted' }, 'No surface shown.' ) );

}

/** "A − B" from two shown surfaces: a difference layer of their values (same grid or resampled). */
export function renderDifference( form, layers, onAdd ) {

	const plain = layers.filter( ( l ) => ! isDifference( l.id ) );
	const key = plain.map( ( l ) => `${ l.id }:${ l.name }` ).join( '|' );
	if ( form.dataset.key === key ) return;
	form.dataset.key = key;
	form.hidden = plain.length < 2;
	if ( plain.length < 2 ) return form.replaceChildren();
	const options = ( pick ) => plain.map( ( l, i ) => h( 'option', { value: l.id, selected: i === pick }, l.name ) );
	const a = h( 'select', { name: 'a', 'aria-label': 'surface A' }, options( 0 ) );
	const b = h( 'select', { name: 'b', 'aria-label': 'surface B' }, options( 1 ) );
	form.replaceChildren( h( 'small', { class: 'muted' }, 'Difference layer' ), h( 'div', { class: 'diff-row' }, a, h( 'span', {}, '−' ), b,
		h( 'button', { type: 'button', class: 'add-diff', onclick: () => a.value !== b.value && onAdd( a.value, b.value ) }, 'Add A − B' ) ) );

}

function table( rows ) {

	return h( 'table', {}, rows.filter( ( [ , v ] ) => v !== null && v !== undefined && v !== '' ).map( ( [ k, v ] ) => h( 'tr', {}, h( 'th', {}, k ), h( 'td', {}, String( v ) ) ) ) );

}

/** The recipe of every shown surface: model, data, directions, grid, centre values, statistics, gallery;
 * ``nan``: its points not drawn for being NaN (captions.js nanText), or null. */
/** ``waiting``: titles of the jobs shown that have no points yet (the panel said "Pick a surface on the
 * left" while one was being computed). */
export function renderDetails( container, layers, waiting = [] ) {

	if ( ! layers.length ) {

		const text = waiting.length ? `Waiting for the first points of ${ waiting.map( ( t ) => `“${ t }”` ).join( ', ' ) }: how ${ waiting.length > 1 ? 'they are' : 'it is' } computed shows here then.` : 'Pick a surface on the left.';
		container.replaceChildren( h( 'p', { class: 'muted' }, text ) );
		return;

	}

	container.replaceChildren( ...layers.map( ( { summary: s, recipe, color, mesh, nan } ) => {

		if ( mesh.difference ) return differenceDetails( mesh, color, nan );
		const d = s.directions;
		const stats = s.landscape_stats;
		const g = s.gallery;
		const n = recipe && recipe.model_params; // small models in full: a tiny CNN read "0.00 M params"
		const params = n ? ` (${ n >= 1e5 ? `${ ( n / 1e6 ).toFixed( 2 ) } M` : n.toLocaleString( 'en-US' ) } params)` : '';
		return h( 'article', { class: 'surface-details', dataset: { id: s.id } },
			h( 'h3', { style: `--swatch: ${ color }` }, s.name ),
			g && g.description ? h( 'p', { class: 'muted' }, g.description ) : null,
			table( [
				[ 'model', s.model + params ],
				[ 'dataset', s.dataset_label || s.dataset ],
				[ 'split', s.split ],
				[ 'samples', s.samples === null ? 'all' : s.samples ],
				[ 'directions', directionsText( d, mesh.trajectory, recipe?.spec ) ],
				[ 'grid x', gridText( s.grid.x ) ],
				[ 'grid y', gridText( s.grid.y ) ],
				...Object.entries( s.center || {} ).map( ( [ m, v ] ) => [ `centre ${ metricName( m ) }`, formatMetric( m, v, 5 ) ] ),
				[ 'status', s.status === 'complete' ? 'complete' : `partial: ${ s.points_done } of ${ s.points_total } points` ],
				[ 'NaN points', nan ],
				[ 'non-convex share', stats && stats.nonconvex_share !== undefined && stats.nonconvex_share !== null
					? `${ ( 100 * stats.nonconvex_share ).toFixed( 1 ) } % of ${ stats.points } points within r ≤ ${ stats.radius } (${ metricName( stats.metric ) })` : null ],
				[ 'non-convex share (eigenvalues)', stats && stats.hessian && stats.hessian.nonconvex_share !== null && stats.hessian.nonconvex_share !== undefined
					? `${ ( 100 * stats.hessian.nonconvex_share ).toFixed( 1 ) } % of ${ stats.hessian.points } points within r ≤ ${ stats.hessian.radius } with ${ RATIO_LABEL } > ${ stats.hessian.ratio }` : null ],
				...( g ? [
					[ 'shortcuts', g.shortcuts === null || g.shortcuts === undefined ? null : ( g.shortcuts ? 'yes' : 'no' ) ],
					[ 'epochs', g.epochs ],
					[ 'test accuracy', g.test_acc === null || g.test_acc === undefined ? null : `${ formatNumber( g.test_acc, 4 ) } % (whole test split)` ],
					[ 'tier', g.tier ],
					[ 'source', g.source ],
				] : [] ),
			] ),
			computeDetails( recipe && recipe.compute ),
			curvatureDetails( mesh.curvature ),
			h( 'a', { href: `/api/surfaces/${ encodeURIComponent( s.id ) }/file`, download: `${ s.id }.h5` }, 'download HDF5' ),
		);

	} ) );

}

function differenceDetails( mesh, color, nan ) {

	const d = mesh.difference, dirs = d.directions;
	return h( 'article', { class: 'surface-details', dataset: { id: mesh.id } },
		h( 'h3', { style: `--swatch: ${ color }` }, mesh.name ),
		dirs.same === false ? h( 'p', { class: 'warn directions-warning', role: 'note' }, `⚠ ${ dirs.text }` ) : null,
		table( [
			[ 'A', d.a_name ], [ 'B', d.b_name ],
			[ 'directions of A', dirs.a.text ], [ 'directions of B', dirs.b.text ],
			[ 'directions', dirs.same === false ? 'differ (see above)' : dirs.text ],
			[ 'values', `A − B at each grid point of A${ Object.keys( mesh.metrics ).some( isAccuracy ) ? '; accuracies in percentage points (pp)' : '' }` ],
			[ 'grid', d.resampled ? 'B resampled to A’s grid (bilinear); points outside B are gaps' : 'same grid' ],
			[ 'NaN points', nan ],
		] ),
	);

}

const COMPUTE_LABELS = { device: 'device', precision: 'precision', fast: 'fast mode', torch: 'torch', cpu_flags: 'CPU' };

/** How a surface was computed (recipe.compute: device, precision, fast mode, fast_check, ...):
 * every key present is shown; old files without the block show nothing. */
function computeDetails( compute ) {

	if ( ! compute || typeof compute !== 'object' ) return null;
	const text = ( v, keyName = String ) => { // keyName: an object's keys in words (fast_check's are metric ids)

		if ( v === true ) return 'yes';
		if ( v === false ) return 'no';
		if ( typeof v === 'number' ) return formatNumber( v, 4 );
		if ( Array.isArray( v ) ) return v.map( ( x ) => text( x ) ).join( ', ' );
		if ( v && typeof v === 'object' ) return Object.entries( v ).map( ( [ k, x ] ) => `${ keyName( k ) } ${ text( x ) }` ).join( ', ' );
		return String( v );

	};

	const rows = [];
	const order = [ 'device', 'device_name', 'precision', 'fast', 'fast_check', 'torch' ];
	const rank = ( k ) => ( order.includes( k ) ? order.indexOf( k ) : order.length );
	const entries = Object.entries( compute ).sort( ( a, b ) => rank( a[ 0 ] ) - rank( b[ 0 ] ) ); // what matters first
	for ( const [ key, value ] of entries ) {

		if ( key === 'fast_check' && value && typeof value === 'object' ) {

			for ( const [ k, v ] of Object.entries( value ) ) rows.push( [ `fast check: ${ k.replaceAll( '_', ' ' ) }`, text( v, metricName ) ] );

		} else rows.push( [ COMPUTE_LABELS[ key ] || key.replaceAll( '_', ' ' ), text( value ) ] );

	}

	return h( 'details', { class: 'compute', open: true }, h( 'summary', {}, 'How it was computed' ), table( rows ) );

}
