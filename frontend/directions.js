// What a surface's directions are, in words (from the summary and recipe the API returns), and
// whether two surfaces were computed along the same ones: a difference layer A − B subtracts values
// at equal (x, y), which are one point of the weight space only when A and B share their directions.

/** How a surface's directions were made, in words (a PCA plane has no norm or seed; a target, the
 * target's weights minus the model's, neither: ``spec``, the recipe's, names the target files). */
export function directionsText( d, trajectory, spec = null ) {

	if ( ! d ) return 'from the file';
	if ( d.kind === 'target' ) {

		const { target, target_y: second } = spec?.directions || {};
		const y = ! spec?.y ? '' : second ? `; y to ${ fileName( second ) }` : `; y random, ${ d.norm } norm, ignore ${ d.ignore }, seed ${ d.seed }`;
		return `target: x to ${ target ? fileName( target ) : 'the target' } (unnormalized)${ y }, ${ d.dir_type }`;

	}

	if ( d.kind !== 'pca' ) return `${ d.kind }, ${ d.norm } norm, ignore ${ d.ignore }, ${ d.dir_type }, seed ${ d.seed }`;
	const path = trajectory ? ` (${ trajectory.labels.length } checkpoints, ${ trajectory.method } projection)` : '';
	return `PCA of the training path${ path }, ignore ${ d.ignore }, ${ d.dir_type }`;

}

const fileName = ( path ) => ( path ? String( path ).split( /[\\/]/ ).pop() : '?' );

/** The ways the recipes of A's and B's directions differ, in words ([] when they agree). A direction
 * file (spec.dir_file, fingerprinted as recipe.dir_file_sha256) replaces the rest of the recipe. */
function recipeDifferences( a, b ) {

	const da = a.summary.directions, db = b.summary.directions;
	const ra = a.recipe || {}, rb = b.recipe || {};
	const sa = ra.spec || {}, sb = rb.spec || {};
	if ( ra.dir_file_sha256 || rb.dir_file_sha256 ) {

		if ( ra.dir_file_sha256 === rb.dir_file_sha256 ) return [];
		if ( ra.dir_file_sha256 && rb.dir_file_sha256 ) return [ `direction files ${ fileName( sa.dir_file ) } vs ${ fileName( sb.dir_file ) }` ];
		const [ file, made ] = ra.dir_file_sha256 ? [ 'A', 'B' ] : [ 'B', 'A' ];
		return [ `${ file } reads its directions from a file, ${ made } makes its own` ];

	}

	const differ = [];
	for ( const key of [ 'kind', 'norm', 'ignore', 'dir_type' ] ) if ( da[ key ] !== db[ key ] ) differ.push( `${ key.replace( '_', ' ' ) } ${ da[ key ] } vs ${ db[ key ] }` );
	if ( da.kind === 'random' && db.kind === 'random' && da.seed !== db.seed ) differ.push( `seed ${ da.seed } vs ${ db.seed }` );
	const xa = sa.directions || {}, xb = sb.directions || {};
	if ( Boolean( xa.same_dir ) !== Boolean( xb.same_dir ) ) differ.push( `y = x (same_dir) ${ xa.same_dir ? 'yes' : 'no' } vs ${ xb.same_dir ? 'yes' : 'no' }` );
	if ( da.kind === 'pca' && db.kind === 'pca' && JSON.stringify( xa.checkpoints ) !== JSON.stringify( xb.checkpoints ) ) differ.push( 'training paths' );
	for ( const [ key, what ] of [ [ 'target', 'target' ], [ 'target_y', 'y target' ] ] ) {

		if ( ( ra[ `${ key }_sha256` ] || rb[ `${ key }_sha256` ] ) && ra[ `${ key }_sha256` ] !== rb[ `${ key }_sha256` ] ) differ.push( `${ what } ${ fileName( xa[ key ] ) } vs ${ fileName( xb[ key ] ) }` );

	}

	return differ;

}

/** Whether A and B hold one model's same weights: the weights' digest when both files record it,
 * else the checkpoint file's, else the checkpoint's name (null: no checkpoint, the seeded init). */
function sameWeights( a, b ) {

	const ra = a.recipe || {}, rb = b.recipe || {};
	if ( a.summary.model !== b.summary.model ) return false;
	if ( ra.weights_sha256 && rb.weights_sha256 ) return ra.weights_sha256 === rb.weights_sha256;
	if ( ra.checkpoint_sha256 || rb.checkpoint_sha256 ) return ra.checkpoint_sha256 === rb.checkpoint_sha256;
	return ( ra.spec?.checkpoint ?? null ) === ( rb.spec?.checkpoint ?? null );

}

/**
 * A's and B's directions compared (meshes as GET /api/surfaces/{id} returns them):
 * {a, b: each {directions: the summary's, text: in words}, same: 'directions' | 'recipe' | false,
 * text: the verdict in words, differ: how the recipes differ, warning: a short one when they do}.
 * 'recipe': made alike but for different models or weights (random directions are normalized to the
 * weights they start from), so equal (x, y) are comparable steps, not the same displacement.
 * The summaries' ``directions_sha256`` (of the direction vectors themselves; null in older files)
 * decide where both have one: equal, the same directions for sure; different, not the same, whatever
 * the recipes say. Without them the recipes are read.
 */
export function compareDirections( a, b ) {

	const words = {
		a: { directions: a.summary?.directions ?? null, text: directionsText( a.summary?.directions, a.trajectory, a.recipe?.spec ) },
		b: { directions: b.summary?.directions ?? null, text: directionsText( b.summary?.directions, b.trajectory, b.recipe?.spec ) },
	};
	const digests = [ a.summary?.directions_sha256, b.summary?.directions_sha256 ];
	if ( digests.every( Boolean ) && digests[ 0 ] === digests[ 1 ] ) return { ...words, same: 'directions', differ: [], text: 'A and B share their directions (the same vectors: their sha256 agree)' };
	const verdict = fromRecipes( a, b, words );
	if ( ! digests.every( Boolean ) || verdict.same !== 'directions' ) return verdict; // 'recipe' already says they are not the same
	const warning = 'A and B were computed along different directions (alike recipes, other vectors: their sha256 differ)';
	return { ...words, same: false, differ: [ 'sha256' ], warning, text: `${ warning }: A − B subtracts values at equal x, y of two different planes` };

}

/** compareDirections' verdict from A's and B's recipes alone (``words``: their directions in words). */
function fromRecipes( a, b, words ) {

	if ( ! a.summary?.directions || ! b.summary?.directions ) {

		const warning = 'A’s or B’s file does not say how its directions were made: they may differ';
		return { ...words, same: false, differ: [ 'unknown' ], warning, text: warning };

	}

	const differ = recipeDifferences( a, b );
	if ( differ.length ) {

		const warning = `A and B were computed along different directions (${ differ.join( '; ' ) })`;
		return { ...words, same: false, differ, warning, text: `${ warning }: A − B subtracts values at equal x, y of two different planes` };

	}

	const d = a.summary.directions, fromFile = Boolean( a.recipe?.dir_file_sha256 );
	// one model's shapes and one seed: one vector, whatever the weights (ignore none would set 1-D entries to the weights)
	const unnormalized = d.kind === 'random' && d.norm === 'none' && d.ignore === 'biasbn';
	if ( fromFile || sameWeights( a, b ) || ( unnormalized && a.summary.model === b.summary.model ) ) return { ...words, same: 'directions', differ, text: 'A and B share their directions' };
	const made = a.summary.model !== b.summary.model ? `for different models (${ a.summary.model } vs ${ b.summary.model })`
		: `around different weights of ${ a.summary.model }${ d.norm !== 'none' ? ' (each normalized to its own)' : '' }`;
	return { ...words, same: 'recipe', differ, text: `the same recipe, made ${ made }: alike, not the same directions` };

}
