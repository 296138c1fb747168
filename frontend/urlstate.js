// The view's state in the URL query, so a view can be shared: surfaces (with their colours and
// opacities), metric, view, toggles, clip, camera and the jobs followed. Unknown or malformed values
// fall back to defaults, and ``warnings`` says which, so the page can tell the user.

import { COLORMAPS } from './colormap.js';

const VIEWS = [ '3d', 'map', '1d' ];
const ID = /^[a-z0-9._-]+(~[a-z0-9._-]+)?$/; // a surface, or a difference a~b

function defaultState() {

	return { ids: [], colors: {}, opacities: {}, metric: null, view: '3d', wireframe: false, log: false, vmax: null, cmap: 'viridis', colorBy: '', slice: 'x', panes: false, camera: null, jobs: [], warnings: [] };

}

const finite = ( text ) => ( text !== null && text !== '' && Number.isFinite( Number( text ) ) ? Number( text ) : null );

export function readState( search ) {

	const q = new URLSearchParams( search );
	const state = defaultState();
	const asked = ( q.get( 's' ) || '' ).split( ',' ).filter( Boolean );
	state.ids = [ ...new Set( asked.filter( ( id ) => ID.test( id ) ) ) ];
	const bad = asked.filter( ( id ) => ! ID.test( id ) );
	if ( bad.length ) state.warnings.push( `the link names no surface “${ bad.join( '”, “' ) }”: left out` );
	const repeated = [ ...new Set( asked.filter( ( id, k ) => ID.test( id ) && asked.indexOf( id ) !== k ) ) ];
	if ( repeated.length ) state.warnings.push( `the link repeats ${ repeated.join( ', ' ) }: each surface is shown once` );
	const colors = ( q.get( 'c' ) || '' ).split( ',' );
	const opacities = ( q.get( 'o' ) || '' ).split( ',' );
	state.ids.forEach( ( id, k ) => {

		if ( /^[0-9a-f]{6}$/i.test( colors[ k ] || '' ) ) state.colors[ id ] = `#${ colors[ k ] }`;
		const o = finite( opacities[ k ] );
		if ( o !== null && o >= 0.05 && o <= 1 ) state.opacities[ id ] = o;

	} );
	state.metric = q.get( 'm' ) || null;
	if ( VIEWS.includes( q.get( 'v' ) ) ) state.view = q.get( 'v' );
	state.wireframe = q.get( 'w' ) === '1';
	state.panes = q.get( 'p' ) === '1';
	state.log = q.get( 'log' ) === '1';
	state.vmax = finite( q.get( 'vmax' ) );
	if ( COLORMAPS.includes( q.get( 'cm' ) ) ) state.cmap = q.get( 'cm' );
	else if ( q.get( 'cm' ) ) state.warnings.push( `unknown colour map “${ q.get( 'cm' ) }”: using viridis (one of ${ COLORMAPS.join( ', ' ) })` );
	if ( q.get( 'sl' ) === 'y' ) state.slice = 'y';
	if ( q.get( 'cb' ) === 'eig_ratio' ) state.colorBy = 'eig_ratio';
	else if ( q.get( 'cb' ) ) state.warnings.push( `unknown colour source “${ q.get( 'cb' ) }”: colouring by height (the one other is eig_ratio)` );
	const camera = ( q.get( 'cam' ) || '' ).split( ',' ).map( finite );
	if ( camera.length === 6 && camera.every( ( v ) => v !== null ) ) state.camera = camera;
	else if ( q.get( 'cam' ) ) state.warnings.push( `the link’s camera (cam=${ q.get( 'cam' ) }) is not six numbers: the default view is used` );
	state.jobs = ( q.get( 'job' ) || '' ).split( ',' ).filter( ( id ) => /^[A-Za-z0-9_-]+$/.test( id ) );
	return state;

}

export function writeState( state ) {

	const q = new URLSearchParams();
	if ( state.ids.length ) {

		q.set( 's', state.ids.join( ',' ) );
		q.set( 'c', state.ids.map( ( id ) => ( state.colors[ id ] || '' ).replace( '#', '' ) ).join( ',' ) );
		q.set( 'o', state.ids.map( ( id ) => state.opacities[ id ] ?? 1 ).join( ',' ) );

	}

	if ( state.metric ) q.set( 'm', state.metric );
	if ( state.view !== '3d' ) q.set( 'v', state.view );
	if ( state.wireframe ) q.set( 'w', '1' );
	if ( state.panes ) q.set( 'p', '1' );
	if ( state.log ) q.set( 'log', '1' );
	if ( state.vmax !== null ) q.set( 'vmax', String( state.vmax ) );
	if ( state.cmap !== 'viridis' ) q.set( 'cm', state.cmap );
	if ( state.slice !== 'x' ) q.set( 'sl', state.slice );
	if ( state.colorBy ) q.set( 'cb', state.colorBy );
	if ( state.camera ) q.set( 'cam', state.camera.join( ',' ) );
	if ( state.jobs.length ) q.set( 'job', state.jobs.join( ',' ) );
	return `?${ q.toString() }`;

}
