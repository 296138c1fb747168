// Curvature (#13): the Hessian eigenvalue ratio |min_eig / max_eig| draped as colour over the 3-D loss
// surface (height = the metric, colour = the ratio) on a diverging scale, and the centre's curvature
// summary (top-k eigenvalues, Hutchinson trace, SLQ density) for the details panel.

import { h } from './dom.js';
import { GridData } from './griddata.js';
import { ZScale, formatNumber } from './scale.js';

export const RATIO = 'eig_ratio'; // the server's derived metric (server/mesh.py)
export const RATIO_LABEL = '|min_eig / max_eig|';
export const DRAPE_CMAP = 'coolwarm'; // diverging: blue = locally convex, red = strongly non-convex
const THRESHOLD = 0.1; // workers/stats.py RATIO: the ratio above which a point counts as non-convex

/** The ratio on a log scale centred (white) on the non-convexity threshold, symmetric in decades, so
 * that blue and red mean the same on every surface; at least one decade each side. */
export class RatioScale extends ZScale {

	constructor( values, threshold = THRESHOLD ) {

		super( values, { log: true } );
		const c = Math.log10( threshold );
		const half = this.empty ? 1 : Math.max( 1, c - this.d0, this.d1 - c );
		this.threshold = threshold;
		this.d0 = c - half;
		this.d1 = c + half;
		this.max = this.invert( 1 );
		this.empty = false;

	}

}

/** The ratio's grids of the shown layers that have one: Map(layer id -> GridData). */
export function ratioGrids( layers ) {

	return new Map( layers.filter( ( l ) => l.mesh.metrics[ RATIO ] ).map( ( l ) => [ l.id, new GridData( l.mesh, RATIO ) ] ) );

}

/** Per-vertex colour positions in [0, 1] of ``grid`` (its display values: pending points interpolated). */
export function drapeTint( grid, scale ) {

	return Float32Array.from( grid.display, ( v ) => {

		const t = scale.normalize( v );
		return Number.isFinite( t ) ? Math.min( 1, Math.max( 0, t ) ) : 0.5;

	} );

}

/** Gaussian-broadened SLQ density on a grid of ``n`` eigenvalues (PyHessian's density plot): each run's
 * Ritz values weighted by its quadrature weights, averaged over runs. */
export function densityCurve( curvature, n = 120 ) {

	const runs = curvature.density_nodes.map( ( nodes, r ) => nodes.map( ( x, i ) => [ x, curvature.density_weights[ r ][ i ] ] ) );
	const all = runs.flat().map( ( [ x ] ) => x );
	let lo = Math.min( ...all ), hi = Math.max( ...all );
	const pad = 0.05 * ( hi - lo || 1 );
	lo -= pad;
	hi += pad;
	const sigma = ( hi - lo ) / 80;
	const xs = Array.from( { length: n }, ( _, k ) => lo + ( k / ( n - 1 ) ) * ( hi - lo ) );
	const ys = xs.map( ( x ) => runs.reduce( ( sum, run ) => sum + run.reduce( ( s, [ c, w ] ) => s + w * Math.exp( - 0.5 * ( ( x - c ) / sigma ) ** 2 ), 0 ), 0 ) / ( runs.length * sigma * Math.sqrt( 2 * Math.PI ) ) );
	return { xs, ys };

}

function drawDensity( canvas, curve ) {

	const dpr = window.devicePixelRatio || 1;
	const W = 260, H = 90, pad = { l: 6, r: 6, t: 6, b: 16 };
	canvas.width = W * dpr;
	canvas.height = H * dpr;
	canvas.style.width = `${ W }px`;
	canvas.style.height = `${ H }px`;
	const ctx = canvas.getContext( '2d' );
	ctx.setTransform( dpr, 0, 0, dpr, 0, 0 );
	// Log density (as PyHessian plots it): the bulk near zero would hide the outliers on a linear axis.
	const ly = curve.ys.map( ( y ) => Math.log10( Math.max( y, 1e-12 ) ) );
	const top = Math.max( ...ly ), bottom = Math.max( Math.min( ...ly ), top - 8 );
	const px = ( k ) => pad.l + ( k / ( curve.xs.length - 1 ) ) * ( W - pad.l - pad.r );
	const py = ( v ) => pad.t + ( 1 - ( Math.max( v, bottom ) - bottom ) / ( top - bottom || 1 ) ) * ( H - pad.t - pad.b );
	ctx.strokeStyle = '#8fb3ff';
	ctx.lineWidth = 1.5;
	ctx.beginPath();
	ly.forEach( ( v, k ) => ( k ? ctx.lineTo( px( k ), py( v ) ) : ctx.moveTo( px( k ), py( v ) ) ) );
	ctx.stroke();
	ctx.fillStyle = '#c9d1e0';
	ctx.font = '10px system-ui, sans-serif';
	ctx.textBaseline = 'bottom';
	ctx.fillText( formatNumber( curve.xs[ 0 ], 3 ), pad.l, H );
	ctx.textAlign = 'right';
	ctx.fillText( formatNumber( curve.xs[ curve.xs.length - 1 ], 3 ), W - pad.r, H );
	ctx.textAlign = 'center';
	ctx.fillText( 'eigenvalue (log density)', W / 2, H );

}

/** The details panel's curvature block, or null without a summary. */
export function curvatureDetails( curvature ) {

	if ( ! curvature ) return null;
	const c = curvature;
	const canvas = h( 'canvas', { class: 'density-plot', 'aria-label': 'eigenvalue density at the centre (stochastic Lanczos quadrature)' } );
	const curve = densityCurve( c );
	requestAnimationFrame( () => drawDensity( canvas, curve ) );
	canvas.dataset.nodes = String( c.density_nodes.flat().length );
	const rows = [
		[ 'top eigenvalues', c.top_eigenvalues.map( ( v ) => formatNumber( v, 4 ) ).join( ', ' ), 'top' ],
		[ 'trace (Hutchinson)', `${ formatNumber( c.trace, 5 ) } ± ${ formatNumber( c.trace_stderr, 2 ) } (${ c.trace_samples } probes)`, 'trace' ],
		[ 'weights in H', `${ c.dimension } (${ c.params } tensors), ${ c.hvps } Hessian-vector products`, 'dimension' ],
	];
	return h( 'section', { class: 'curvature' },
		h( 'h4', {}, 'Curvature at the centre' ),
		h( 'table', {}, h( 'tbody', {}, ...rows.map( ( [ k, v, key ] ) => h( 'tr', { dataset: { key } }, h( 'th', {}, k ), h( 'td', {}, v ) ) ) ) ),
		canvas,
	);

}
