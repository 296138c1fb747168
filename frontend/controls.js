// The toolbar, the display controls and the side drawers: user input goes to the app (update,
// setMetric, ...), and showControls() sets every control to the state.

import { COLORMAPS } from './colormap.js';
import { $, h, setValue } from './dom.js';
import { exportPNG, exportSources } from './export.js';

/** Listen to the toolbar, the display controls, the drawers' toggles and page-wide errors. */
export function bindControls( app ) {

	for ( const button of document.querySelectorAll( '[data-view]' ) ) {

		button.addEventListener( 'click', () => app.update( { view: button.dataset.view } ) );

	}

	$( 'cmap' ).replaceChildren( ...COLORMAPS.map( ( name ) => h( 'option', { value: name }, name ) ) );
	$( 'metric' ).addEventListener( 'change', ( e ) => app.setMetric( e.target.value ) );
	$( 'cmap' ).addEventListener( 'change', ( e ) => app.update( { cmap: e.target.value } ) );
	$( 'color-by' ).addEventListener( 'change', ( e ) => app.update( { colorBy: e.target.value } ) );
	$( 'wireframe' ).addEventListener( 'change', ( e ) => app.update( { wireframe: e.target.checked } ) );
	$( 'panes' ).addEventListener( 'change', ( e ) => app.update( { panes: e.target.checked } ) );
	$( 'logz' ).addEventListener( 'change', ( e ) => app.update( { log: e.target.checked } ) );
	$( 'slice' ).addEventListener( 'change', ( e ) => app.update( { slice: e.target.value } ) );
	$( 'vmax' ).addEventListener( 'change', ( e ) => {

		const text = e.target.value.trim();
		const v = text === '' ? null : Number( text );
		if ( v !== null && ! Number.isFinite( v ) ) return app.status.error( `vmax must be a number, got ${ text }` );
		app.update( { vmax: v } );

	} );
	$( 'catalog-filter' ).addEventListener( 'input', () => app.renderCatalog() );
	$( 'reset-view' ).addEventListener( 'click', () => {

		app.viewport.resetView();
		app.cameraMoved();

	} );
	$( 'export-png' ).addEventListener( 'click', () => exportPNG( exportSources( app ) ).catch( ( e ) => app.status.error( e ) ) );
	$( 'copy-link' ).addEventListener( 'click', () => {

		app.writeURL();
		// no clipboard on plain http from another machine (a phone on the LAN): the click did nothing
		const copied = navigator.clipboard ? navigator.clipboard.writeText( location.href ) : Promise.reject( new Error( 'no clipboard' ) );
		copied.then( () => app.status.set( 'Link copied.', 1500 ), () => app.status.set( 'The browser lets this page copy nothing here: the address bar holds the link to this view.', 6000 ) );

	} );
	for ( const side of [ 'left', 'right' ] ) {

		$( `toggle-${ side }` ).addEventListener( 'click', () => openDrawer( app, document.body.classList.contains( `show-${ side }` ) ? null : side ) );

	}

	document.addEventListener( 'keydown', ( e ) => {

		const open = [ 'left', 'right' ].find( ( side ) => document.body.classList.contains( `show-${ side }` ) );
		if ( e.key !== 'Escape' || ! open ) return;
		openDrawer( app, null );
		$( `toggle-${ open }` ).focus();

	} );

	app.hover.bind( $( 'viewport' ) );
	if ( matchMedia( '(pointer: coarse)' ).matches ) $( 'hint' ).textContent = 'one finger: rotate · pinch: zoom · two fingers: pan · tap: values';
	window.addEventListener( 'error', ( e ) => app.status.error( e.error || e.message ) );
	window.addEventListener( 'unhandledrejection', ( e ) => app.status.error( e.reason ) );

}

/** Open one side panel as a drawer (narrow windows), or none (null); the toggles say which. */
function openDrawer( app, side ) {

	for ( const each of [ 'left', 'right' ] ) {

		document.body.classList.toggle( `show-${ each }`, each === side );
		$( `toggle-${ each }` ).setAttribute( 'aria-expanded', String( each === side ) );

	}

	requestAnimationFrame( () => app.viewport.resize() );

}

/** Close the side drawers (narrow windows), if one is open. */
export function closeDrawers( app ) {

	if ( [ 'left', 'right' ].some( ( side ) => document.body.classList.contains( `show-${ side }` ) ) ) openDrawer( app, null );

}

/** Form controls show the state (values set in place; the one being used is left alone). */
export function showControls( app ) {

	const { state } = app;
	setValue( $( 'metric' ), state.metric || '' );
	$( 'cmap' ).value = state.cmap;
	$( 'color-by' ).value = state.colorBy;
	$( 'wireframe' ).checked = state.wireframe;
	$( 'panes' ).checked = state.panes;
	$( 'logz' ).checked = state.log;
	$( 'slice' ).value = state.slice;
	setValue( $( 'vmax' ), state.vmax ?? '' );
	for ( const b of document.querySelectorAll( '[data-view]' ) ) b.setAttribute( 'aria-selected', String( b.dataset.view === state.view ) );
	$( 'view-3d' ).hidden = state.view !== '3d';
	$( 'view-map' ).hidden = state.view !== 'map';
	$( 'view-1d' ).hidden = state.view !== '1d';
	$( 'hint' ).hidden = state.view !== '3d' || ! app.shown || ! app.shown.length;
	$( 'reset-view' ).disabled = state.view !== '3d';
	showApplicable( app );

}

/** Controls that change nothing in the view shown are greyed out, their label saying where they do
 * (ticking "wireframe" over the contour map did nothing, and said nothing; nor did the colour map on
 * surfaces overlaid in 3-D, each in its layer's colour, or draped with the curvature's own map). */
function showApplicable( app ) {

	const view = app.state.view, in3d = view === '3d' && app.shown?.length > 0;
	const only = {
		wireframe: view !== '3d' && 'in the 3-D view',
		panes: view !== '3d' && 'in the 3-D view',
		slice: view !== '1d' && 'in the 1-D / slice view (the row or column through the point last hovered)',
		cmap: ( view === '1d' && 'in the 3-D and contour views (curves take their layer’s colour)' ) ||
			( in3d && app.colorMode === 'solid' && 'in the contour view, or in 3-D for one surface or side by side (overlaid surfaces take their layer’s colour)' ) ||
			( in3d && app.drape && 'when colouring by height (the curvature has its own colour map)' ),
	};
	for ( const [ id, where ] of Object.entries( only ) ) {

		const input = $( id ), label = input.closest( 'label' );
		label.dataset.title ??= label.title; // its own explanation, shown where it applies
		input.disabled = Boolean( where );
		label.classList.toggle( 'inapplicable', Boolean( where ) );
		label.title = where ? `only ${ where }` : label.dataset.title;

	}

}
