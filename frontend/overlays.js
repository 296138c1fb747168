// What lies over the view: the title (surface names, metric, axes note), the colour bar, the progress
// of partial surfaces in the status line, and the room these leave the panes and the flat plots.

import { directionWarnings, metricName, metricText, nanWarnings } from './captions.js';
import { drawColorBar } from './colormap.js';
import { DRAPE_CMAP, RATIO_LABEL } from './curvature.js';
import { $, h } from './dom.js';
import { formatNumber } from './scale.js';

const LABEL_SIDE = 620; // CSS px: a view or pane this large draws the 3-D labels at their own size
const LABEL_GROWTH = 4; // at most: a phone's 2 x 2 panes (160 px) draw them about 12 px high
const LABEL_ROOM = 0.07; // the field of view widens by this much per unit of growth, so large labels fit
const UNDER_ASPECT = 1.5; // a view this much taller than wide puts the contour map's colour bar under the map
const AXIS_ROOM = 48; // CSS px under a flat plot for its x tick labels and axis name
const BAR_FOOT = 60; // CSS px left free under a colour bar laid under the map (the hint, the status)

/** The title over the view: the shown surfaces' names (panes name their own), the metric and how
 * it is scaled, what the axes are and whether a difference's A and B differ in them, which points are
 * NaN (not drawn); or which surfaces are still coming. */
export function showTitle( app ) {

	const { state, shown, store } = app;
	const waiting = store.ids.filter( ( id ) => store.waiting.has( id ) );
	let lines;
	if ( shown.length ) {

		lines = [
			...( app.viewport.panes > 1 ? [] : shown.map( ( l ) => h( 'div', { class: 'layer-title', style: `--swatch: ${ l.color }` }, l.name ) ) ), // panes name their own
			h( 'div', { class: 'muted' }, `${ metricText( state.metric, shown, true ) }${ state.log ? ', log scale' : '' }${ state.vmax !== null ? `, clipped at ${ formatNumber( state.vmax ) }` : '' }${ app.drape && state.view === '3d' ? `; colour: ${ RATIO_LABEL } (blue: locally convex)` : '' }` ),
			app.names.note ? h( 'div', { class: 'muted axes-note' }, app.names.note ) : null,
			...directionWarnings( shown, app.paths ).map( ( text ) => h( 'div', { class: 'warn directions-warning' }, text ) ),
			...nanWarnings( shown ).map( ( text ) => h( 'div', { class: 'warn nan-warning' }, text ) ),
		];

	} else if ( waiting.length ) {

		lines = [ ...waiting.map( ( id ) => h( 'div', { class: 'layer-title' }, store.title( id ) ) ), h( 'div', { class: 'muted' }, 'waiting for the first points' ) ];

	} else lines = [ h( 'div', { class: 'muted' }, store.pending ? 'Loading…' : 'No surface shown' ) ];
	$( 'title' ).replaceChildren( ...lines.filter( Boolean ) ); // no axes note: no "null" text
	fitPanes( app );

}

/** In a tall narrow view (a phone held upright) one 3-D view ends above the colour bar, which lies
 * under it across the bottom (style.css .bar-under): the surface is drawn at the view's whole width. */
function barUnder3D( app ) {

	const viewport = $( 'viewport' );
	const under = app.state.view === '3d' && app.viewport.panes === 1 && ! $( 'colorbar' ).hidden && isTall( viewport );
	viewport.classList.toggle( 'bar-under', under );

}

const isTall = ( element ) => element.clientHeight > UNDER_ASPECT * element.clientWidth;

/** Panes lie between the title and the hint, which cover none of them; the 3-D labels grow in a
 * small view or pane, up to four times their size, to stay readable (axes.js then draws fewer ticks). */
export function fitPanes( app ) {

	barUnder3D( app ); // a phone turned: the colour bar moves
	const panes = app.viewport.panes > 1, title = $( 'title' ), hint = $( 'hint' ), viewport = $( 'viewport' );
	viewport.classList.toggle( 'panes', panes );
	viewport.style.setProperty( '--panes-top', panes ? `${ title.offsetTop + title.offsetHeight + 8 }px` : '' );
	viewport.style.setProperty( '--panes-bottom', panes && ! hint.hidden ? `${ viewport.clientHeight - hint.offsetTop + 4 }px` : '' );
	const scale = Math.min( LABEL_GROWTH, Math.max( 1, LABEL_SIDE / app.viewport.paneSide() ) ), room = 1 + LABEL_ROOM * ( scale - 1 );
	app.viewport.setLabelRoom( room );
	app.viewport.resize(); // at once: the view's size is final when the page says it is ready (a new size waited for a frame)
	if ( app.axes.setLabelScale( scale * room ) ) app.viewport.requestRender(); // the wider field shrinks them again

}

/** The colour bar beside the view when surfaces are coloured by a colour map (not in the 1-D view). */
export function showColorBar( app ) {

	const { state } = app;
	const showBar = app.colorMode === 'map' && state.view !== '1d' && ! app.zscale.empty;
	$( 'colorbar' ).hidden = ! showBar;
	$( 'viewport' ).classList.toggle( 'with-bar', showBar ); // the 3-D view ends left of the bar
	barUnder3D( app );
	if ( ! showBar ) return;
	const canvas = $( 'colorbar' ).querySelector( 'canvas' );
	if ( app.drape && state.view === '3d' ) drawColorBar( canvas, DRAPE_CMAP, app.drape.scale, RATIO_LABEL );
	else drawColorBar( canvas, state.cmap, app.zscale, metricText( state.metric, app.shown ) );

}

/** The status line: surfaces still waiting, lacking the metric, or partly computed; else nothing. */
export function showProgress( app ) {

	const { shown, store, state } = app;
	const partial = shown.filter( ( l ) => ! l.grid.complete );
	const lacking = store.selected.map( ( s ) => s.layer ).filter( ( l ) => l && ! l.mesh.metrics[ state.metric ] );
	const waiting = store.ids.filter( ( id ) => store.waiting.has( id ) );
	if ( waiting.length ) app.status.set( `Waiting for the first points of ${ waiting.map( ( id ) => `“${ store.title( id ) }”` ).join( ', ' ) }…` );
	else if ( lacking.length ) app.status.set( `${ lacking.map( ( l ) => l.mesh.name ).join( ', ' ) }: no ${ metricName( state.metric ) } in the file, not drawn` );
	else if ( ! shown.length ) app.status.set( store.catalog.length ? 'No surface selected: tick one on the left.' : 'No surfaces yet: compute one under “New surface”.' );
	else if ( partial.length ) app.status.set( partial.map( progressText ).join( ' · ' ) );
	else app.status.set( null );

}

/** How far a partial surface is: points computed so far, or, for a difference of two complete
 * surfaces, the points of A's grid that B covers (no more will come). */
function progressText( l ) {

	const { pointsDone, nx, ny, coarseLevel } = l.grid;
	if ( l.mesh.difference?.computed ) return `${ l.name }: B covers ${ pointsDone } of A’s ${ nx * ny } points`;
	return `${ l.name }: ${ pointsDone } of ${ nx * ny } points${ coarseLevel !== null ? ' (coarse preview)' : '' }`;

}

/** Room the flat plots leave for what is drawn over them: the title (it grows with the names of
 * the surfaces shown) above, the colour bar, when shown, on the right; or, in a tall narrow view (a
 * phone held upright), the contour map takes the whole width right below the title and the colour bar,
 * when shown, lies under it (placeColorBar puts it there once the map is drawn). */
export function plotInset( view ) {

	const title = $( 'title' ), bar = $( 'colorbar' ), viewport = $( 'viewport' );
	const top = title.offsetTop + title.offsetHeight + 16;
	const tall = view === 'map' && isTall( viewport ), under = tall && ! bar.hidden;
	bar.classList.toggle( 'under', under );
	if ( under ) return { top, right: 16, bottom: AXIS_ROOM + bar.getBoundingClientRect().height + BAR_FOOT, alignTop: true };
	return tall ? { top, right: 16, alignTop: true } : { top, right: bar.hidden ? 40 : 130 };

}

/** Under a contour map laid out by plotInset: the colour bar's top just below the map's axis names. */
export function placeColorBar( plot ) {

	const bar = $( 'colorbar' );
	bar.style.setProperty( '--bar-top', bar.classList.contains( 'under' ) ? `${ plot.bottom + AXIS_ROOM }px` : '' );

}
