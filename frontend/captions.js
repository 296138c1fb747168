// The words on the view: a metric's name with its unit (title, colour bar, z axis, 1-D axis, metric
// list), what the x and y axes are, from the shown surfaces' directions, warnings about them, and how
// many points are NaN (not drawn) and why.

import { RATIO, RATIO_LABEL } from './curvature.js';
import { isAccuracy } from './scale.js';
import { onePlane, pcaAxisNames } from './trajectory.js';

/** A metric's name in words: "train acc" for train_acc, where a value beside it carries its unit
 * (the tooltip, the details panel: "85 %"). */
export function metricName( metric ) {

	if ( metric === RATIO ) return RATIO_LABEL;
	return metric ? metric.replaceAll( '_', ' ' ) : '';

}

/** A metric's name with its unit: "train acc (%)"; differences of accuracies (A − B layers among
 * ``shown``) are in percentage points: "train acc (pp)", or beside other surfaces "train acc (%/pp)"
 * (``long``: "train acc (%; A − B in pp)"; the short one fits the colour bar). */
export function metricText( metric, shown = [], long = false ) {

	const name = metricName( metric ), diffs = shown.filter( ( l ) => l.mesh.difference ).length;
	if ( ! isAccuracy( metric ) ) return name;
	return `${ name } (${ ! diffs ? '%' : diffs === shown.length ? 'pp' : long ? '%; A − B in pp' : '%/pp' })`;

}

/** What the x and y axes are, from the shown surfaces' directions (both A's and B's of a difference):
 * {x: "direction 1, filter-normalized",
 * y: ..., short: {x: "direction 1", y: ...}, note: "x, y: directions 1 and 2, filter-normalized"} (short
 * names label the 3-D axes); PCA surfaces: "PC1, 81.2%" (the share of the path's variance). */
export function axisNames( shown ) {

	const pca = pcaAxisNames( shown );
	if ( pca ) return { x: pca.x, y: pca.y, short: pca.short, note: `x, y: ${ pca.how }, each axis to its own scale`, pca: true };
	const dirs = shown.flatMap( ( l ) => ( l.mesh.difference ? [ l.mesh.difference.directions.a.directions, l.mesh.difference.directions.b.directions ] : [ l.mesh.summary?.directions ] ) ).filter( Boolean );
	const d = dirs.length && dirs.every( ( x ) => x.norm === dirs[ 0 ].norm && x.kind === dirs[ 0 ].kind ) ? dirs[ 0 ] : null;
	if ( d && d.kind === 'pca' ) { // PCA planes with a difference A − B among them (it lies on A's plane and grid)

		const pc = { x: 'PC1', y: 'PC2' };
		return { ...pc, short: pc, note: 'x, y: principal components 1 and 2 of each surface’s own path (A’s for A − B), each axis to its own scale', pca: true };

	}

	const short = { x: 'direction 1', y: 'direction 2' };
	const oneD = shown.every( ( l ) => l.grid.ndim === 1 ); // no y axis
	if ( d && d.kind === 'target' ) return targetAxes( shown, d, short, oneD );
	const how = d ? `${ d.norm === 'none' ? 'unnormalized' : `${ d.norm }-normalized` }${ d.kind && d.kind !== 'random' ? ` (${ d.kind })` : '' }` : '';
	return { x: `${ short.x }${ how ? `, ${ how }` : '' }`, y: `${ short.y }${ how ? `, ${ how }` : '' }`, short, note: how ? `${ oneD ? 'x: direction 1' : 'x, y: directions 1 and 2' }, ${ how }` : '' };

}

/** The axes of interpolations: a target direction is the target's weights minus the model's,
 * unnormalized (x = 1 is the target; the recipe's norm and seed do not apply to it); a plane with no
 * second target takes a random y direction, normalized as the recipe says. */
function targetAxes( shown, d, short, oneD ) {

	const second = shown.some( ( l ) => l.mesh.recipe?.spec?.directions?.target_y );
	const y = second ? 'to the second target (unnormalized)' : `random, ${ d.norm === 'none' ? 'unnormalized' : `${ d.norm }-normalized` }`;
	const x = 'from the model (x = 0) to the target (x = 1), unnormalized';
	const note = oneD ? `x: ${ x }` : second ? 'x, y: from the model (0) to each target (1), unnormalized' : `x: ${ x }; y: ${ y }`;
	return { x: `${ short.x }, to the target (unnormalized)`, y: `${ short.y }, ${ y }`, short, note };

}

/** Plain warnings for the title: each shown difference A − B whose A and B were computed along
 * different directions (named when other surfaces are shown too), and training paths (trajectory.js
 * pathsOf) that lie in different planes. In the title they cover nothing (a banner covered the map
 * on a phone) and a PNG export keeps them. */
export function directionWarnings( shown, paths ) {

	const warnings = shown.filter( ( l ) => l.mesh.difference && l.mesh.difference.directions.same === false )
		.map( ( l ) => `⚠ ${ shown.length > 1 ? `${ l.name }: ` : '' }${ l.mesh.difference.directions.warning }` );
	if ( paths.length > 1 && ! onePlane( paths ) ) warnings.push( '⚠ these training paths lie in different planes (other directions or another centre): their coordinates do not compare' );
	return warnings;

}

/** What a shown layer leaves undrawn: its points whose value of the metric shown is NaN or infinite
 * (done, and null in the mesh JSON), and why where the engine said so before computing them (the
 * summary's ``negative_variance_points``, a count of the whole grid; absent or null in older files):
 * their weights move a BatchNorm running variance below zero. Null when there is nothing to say. */
export function nanText( layer ) {

	const g = layer.grid, total = g.nx * g.ny, count = g.notFinite;
	const negative = layer.mesh.summary?.negative_variance_points;
	const known = Number.isInteger( negative ) && negative > 0;
	const cause = 'a BatchNorm running variance below zero';
	if ( known && count === negative ) return `${ count } of ${ total } points ${ count === 1 ? 'is' : 'are' } NaN (not drawn): ${ count === 1 ? 'it moves' : 'they move' } ${ cause }`;
	const gaps = count ? `${ count } of ${ total } points ${ count === 1 ? 'is' : 'are' } NaN or infinite (not drawn)` : null;
	const why = known ? `${ negative } of ${ total } points ${ negative === 1 ? 'moves' : 'move' } ${ cause }, where every metric is NaN` : null;
	return [ gaps, why ].filter( Boolean ).join( '; ' ) || null;

}

/** The title's line for each shown layer with NaN points (nanText), named when others are shown. */
export function nanWarnings( shown ) {

	return shown.map( ( l ) => [ l, nanText( l ) ] ).filter( ( [ , text ] ) => text ).map( ( [ l, text ] ) => `⚠ ${ shown.length > 1 ? `${ l.name }: ` : '' }${ text }` );

}
