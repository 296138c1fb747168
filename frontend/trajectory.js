// The optimizer's path on a PCA surface (the mesh's `trajectory`: per checkpoint its label, epoch,
// coordinates in the plane and its own loss and accuracy). Drawn on the contour map and in 3-D as a
// polyline at each checkpoint's own value of the shown metric, with a marker per checkpoint, epoch
// labels, and the start (hollow square) and end (ringed dot) marked. Paths of surfaces that share a
// plane (same direction file and same centre model) are overlaid; the axes then read "PC1, 81.2%".

import * as THREE from 'three';
import { textSprite } from './axes.js';
import { Z_HEIGHT, formatMetric, formatNumber } from './scale.js';

const PICK_PX = 9; // a checkpoint marker is hovered within this many pixels

/** The plane a surface lies in: its direction file and its centre (the same directions around another
 * model are a parallel plane, whose coordinates do not compare). Null when the file names neither. */
export function planeOf( mesh ) {

	const r = mesh.recipe || {};
	return r.dir_file_sha256 && r.checkpoint_sha256 ? `${ r.dir_file_sha256 }@${ r.checkpoint_sha256 }` : null;

}

/** The paths of the shown 2-D layers: [{id, name, color, t, values, planeKey}] where ``values`` are each
 * checkpoint's own ``metric`` (null where the path has no such metric or it is not finite). */
export function pathsOf( shown, metric ) {

	return shown.filter( ( l ) => l.grid.ndim === 2 && l.mesh.trajectory && l.mesh.trajectory.x.length ).map( ( l ) => {

		const t = l.mesh.trajectory;
		const values = ( t.metrics[ metric ] || t.x.map( () => null ) ).map( ( v ) => ( Number.isFinite( v ) ? v : null ) );
		return { id: l.id, name: l.name, color: l.color, t, values, planeKey: planeOf( l.mesh ) };

	} );

}

/** Whether all paths lie in one plane (a single path does). */
export function onePlane( paths ) {

	return paths.every( ( p ) => p.planeKey !== null && p.planeKey === paths[ 0 ].planeKey );

}

/** Axis names for PCA surfaces: {x: "PC1, 81.2%", y: "PC2, 9.5%", short, how} when every shown surface
 * is a PCA surface of one plane with its explained variance; without the shares when the planes differ
 * (short, for the 3-D axes: "PC1", the long "PC1 of each surface’s own path" ran out of a phone's
 * view); null when a surface shown is not a PCA surface. */
export function pcaAxisNames( shown ) {

	const twoD = shown.filter( ( l ) => l.grid.ndim === 2 );
	if ( ! twoD.length || ! twoD.every( ( l ) => l.mesh.summary?.directions?.kind === 'pca' ) ) return null;
	const keys = new Set( twoD.map( ( l ) => planeOf( l.mesh ) ) );
	const ratio = twoD.map( ( l ) => l.mesh.trajectory?.explained_variance_ratio ).find( ( r ) => r && r.length >= 2 );
	if ( keys.size === 1 && ! keys.has( null ) && ratio ) {

		const [ a, b ] = ratio.map( ( r ) => `${ ( 100 * r ).toFixed( 1 ) }%` );
		return { x: `PC1, ${ a }`, y: `PC2, ${ b }`, short: { x: `PC1, ${ a }`, y: `PC2, ${ b }` }, how: `the training path’s principal components 1 and 2` };

	}

	const note = keys.size === 1 ? '' : ' of each surface’s own path';
	return { x: `PC1${ note }`, y: `PC2${ note }`, short: { x: 'PC1', y: 'PC2' }, how: `principal components 1 and 2${ note }` };

}

/** The rows of a checkpoint's tooltip: [key, label, text]; ``label(metric)`` names a metric (captions.js metricName). */
export function checkpointRows( path, i, label ) {

	const t = path.t;
	const rows = [
		[ 'checkpoint', 'checkpoint', t.labels[ i ] ],
		[ 'epoch', 'epoch', t.epochs[ i ] >= 0 ? String( t.epochs[ i ] ) : 'unknown' ],
	];
	for ( const [ name, values ] of Object.entries( t.metrics ).sort( ( a, b ) => metricRank( a[ 0 ] ) - metricRank( b[ 0 ] ) ) ) rows.push( [ name, label( name ), formatMetric( name, values[ i ] ) ] );
	rows.push( [ 'x', 'x', formatNumber( t.x[ i ], 6 ) ], [ 'y', 'y', formatNumber( t.y[ i ], 6 ) ] );
	rows.push( [ 'place', 'on the path', i === 0 ? 'start' : i === t.x.length - 1 ? 'end' : `${ i + 1 } of ${ t.x.length }` ] );
	return rows;

}

/** Losses before accuracies, train before test (as the metric menu lists them). */
function metricRank( name ) {

	return [ 'train_loss', 'train_acc', 'test_loss', 'test_acc' ].indexOf( name ) + 1 || 99;

}

/** Which checkpoints get an epoch label: all of a short path, every k-th of a long one, always the ends. */
function labelled( n ) {

	const step = Math.max( 1, Math.ceil( n / 12 ) );
	return ( i ) => i === 0 || i === n - 1 || i % step === 0;

}

function pointLabel( path, i ) {

	const e = path.t.epochs[ i ];
	return e >= 0 ? `${ e }` : path.t.labels[ i ];

}

const LABEL_H = 12; // px: a checkpoint label's height (11 px bold) with its rim

/** Where the checkpoints' labels go: beside each point, at the first of a few places inside the plot
 * that overlaps no label placed before and no checkpoint; a label with no free place is left out, except
 * the start and end of each path (placed first, so they always show). ``marks`` are [{path, i, text, X, Y, r, end}]
 * with r the radius of the checkpoint's mark; returns them with their box [x, y, w, h] in canvas pixels. */
function placeLabels( ctx, marks, plot ) {

	const hits = ( a, b ) => a[ 0 ] < b[ 0 ] + b[ 2 ] && b[ 0 ] < a[ 0 ] + a[ 2 ] && a[ 1 ] < b[ 1 ] + b[ 3 ] && b[ 1 ] < a[ 1 ] + a[ 3 ];
	const dots = marks.map( ( { X, Y, r } ) => [ X - r, Y - r, 2 * r, 2 * r ] );
	const ends = marks.filter( ( m ) => m.end ), middle = marks.filter( ( m ) => ! m.end );
	const placed = [];
	for ( const mark of [ ...ends, ...middle ] ) {

		const w = ctx.measureText( mark.text ).width + 2, { X, Y } = mark;
		const r = mark.r, places = [ // right, left, above, below; first above, then below the point
			[ X + r + 4, Y - r - LABEL_H + 4 ], [ X + r + 4, Y + r - 4 ], [ X - r - 4 - w, Y - r - LABEL_H + 4 ], [ X - r - 4 - w, Y + r - 4 ],
			[ X - w / 2, Y - r - 2 - LABEL_H ], [ X - w / 2, Y + r + 2 ],
		];
		const boxes = places.map( ( [ x, y ] ) => [ x, y, w, LABEL_H ] );
		const mine = dots[ marks.indexOf( mark ) ];
		const shown = boxes.filter( ( [ x, y ] ) => x >= plot.left && x + w <= plot.right && y >= plot.top && y + LABEL_H <= plot.bottom );
		const free = shown.find( ( box ) => ! placed.some( ( p ) => hits( box, p.box ) ) && ! dots.some( ( d ) => d !== mine && hits( box, d ) ) );
		if ( free || mark.end ) placed.push( { ...mark, box: free || shown[ 0 ] || boxes[ 0 ] } );

	}

	return placed;

}

/** Draw the paths on the contour map (a PlotCanvas), clipped to the plot. Returns, per path, the
 * checkpoints' canvas positions (for picking) and the labels drawn ([{i, text, box}]). */
export function drawPathsOnMap( plot, paths, { heat } ) {

	const ctx = plot.ctx;
	ctx.save();
	ctx.font = '600 11px system-ui, sans-serif';
	const marks = [];
	ctx.beginPath();
	ctx.rect( plot.left, plot.top, plot.right - plot.left, plot.bottom - plot.top );
	ctx.clip();
	const drawn = paths.map( ( path ) => {

		const t = path.t;
		const points = t.x.map( ( x, i ) => ( Number.isFinite( x ) && Number.isFinite( t.y[ i ] ) ? [ plot.px( x ), plot.py( t.y[ i ] ) ] : null ) );
		const ink = heat ? '#ffffff' : path.color;
		ctx.lineJoin = 'round';
		for ( const [ width, color ] of [ [ 4.5, 'rgba(8,10,16,0.85)' ], [ 2, ink ] ] ) {

			ctx.strokeStyle = color;
			ctx.lineWidth = width;
			ctx.beginPath();
			let open = false;
			for ( const p of points ) {

				if ( ! p ) {

					open = false;
					continue;

				}

				if ( open ) ctx.lineTo( ...p );
				else ctx.moveTo( ...p );
				open = true;

			}

			ctx.stroke();

		}

		const label = labelled( points.length );
		points.forEach( ( p, i ) => {

			if ( ! p ) return;
			const [ X, Y ] = p;
			const last = i === points.length - 1;
			ctx.lineWidth = 1.5;
			ctx.strokeStyle = 'rgba(8,10,16,0.9)';
			ctx.fillStyle = path.color;
			if ( i === 0 ) { // start: a hollow square

				ctx.strokeStyle = ink;
				ctx.lineWidth = 2.5;
				ctx.strokeRect( X - 6, Y - 6, 12, 12 );

			} else if ( last ) { // end: a dot in a ring

				ctx.beginPath(); ctx.arc( X, Y, 4.5, 0, 2 * Math.PI ); ctx.fill(); ctx.stroke();
				ctx.strokeStyle = ink;
				ctx.lineWidth = 2;
				ctx.beginPath(); ctx.arc( X, Y, 9, 0, 2 * Math.PI ); ctx.stroke();

			} else {

				ctx.beginPath(); ctx.arc( X, Y, 3.5, 0, 2 * Math.PI ); ctx.fill(); ctx.stroke();

			}

			if ( label( i ) ) {

				const text = i === 0 ? `start ${ pointLabel( path, i ) }` : last ? `end ${ pointLabel( path, i ) }` : pointLabel( path, i );
				marks.push( { path: path.id, i, text, X, Y, r: i === 0 ? 7 : last ? 10 : 4, end: i === 0 || last, ink } );

			}

		} );
		return { id: path.id, points, labels: [] };

	} );
	ctx.textBaseline = 'top';
	ctx.textAlign = 'left';
	ctx.lineWidth = 3;
	for ( const label of placeLabels( ctx, marks, plot ) ) {

		const [ x, y ] = label.box;
		ctx.strokeStyle = 'rgba(8,10,16,0.85)';
		ctx.strokeText( label.text, x + 1, y );
		ctx.fillStyle = label.ink;
		ctx.fillText( label.text, x + 1, y );
		drawn.find( ( d ) => d.id === label.path ).labels.push( { i: label.i, text: label.text, box: label.box } );

	}

	ctx.restore();
	return drawn;

}

/** The checkpoint nearest to a pointer among screen positions [{id, points: [[X, Y] | null]}] (in the
 * same coordinates as X, Y), within PICK_PX: {id, i} or null. */
export function nearestCheckpoint( drawn, X, Y ) {

	let best = null, bestD = PICK_PX;
	for ( const { id, points } of drawn ) {

		points.forEach( ( p, i ) => {

			if ( ! p ) return;
			const d = Math.hypot( p[ 0 ] - X, p[ 1 ] - Y );
			if ( d <= bestD ) {

				best = { id, i };
				bestD = d;

			}

		} );

	}

	return best;

}

const GAP = 0.2; // a 3-D label's distance from its checkpoint, in label heights
const DOT_PX = 5; // px: a 3-D checkpoint marker's radius on screen, kept free of labels

/** Where the 3-D checkpoint labels go for the camera as it is (called before each frame): in each pane,
 * the starts and ends first, then the others, each at the first place beside its checkpoint (above,
 * right, left, below: the sprite's centre) whose screen box overlaps no label placed before and no
 * other checkpoint; a label with no free place is hidden, except a start or end (which may go a label
 * further up or down, or lie over a checkpoint rather than a label, or above its point as a last resort).
 * Crowded ends of two paths wrote "end 6" over "end 6" and "4". Returns [{id, i, text, visible,
 * left, top, right, bottom}] in client pixels. */
export function placeLabels3d( pathObjects, viewport ) {

	const camera = viewport.camera, up = new THREE.Vector3();
	camera.updateMatrixWorld(); // the renderer does it only once the frame is drawn
	const hits = ( a, b ) => a[ 0 ] < b[ 2 ] && b[ 0 ] < a[ 2 ] && a[ 1 ] < b[ 3 ] && b[ 1 ] < a[ 3 ];
	const result = [];
	const panes = new Map(); // pane -> its path objects
	for ( const o of pathObjects ) panes.set( o.group.userData.pane ?? 0, [ ...( panes.get( o.group.userData.pane ?? 0 ) || [] ), o ] );
	for ( const [ pane, objects ] of panes ) {

		const dots = objects.flatMap( ( o ) => o.positions.map( ( p, i ) => ( p ? { o, i, ...viewport.project( p, pane ) } : null ) ).filter( Boolean ) );
		const labels = objects.flatMap( ( o ) => o.labels.map( ( l ) => ( { o, ...l } ) ) );
		const placed = [];
		for ( const l of [ ...labels.filter( ( l ) => l.end ), ...labels.filter( ( l ) => ! l.end ) ] ) {

			const p = l.o.positions[ l.i ], { x, y } = viewport.project( p, pane );
			// the label's height on screen: a point its height above p in the camera's frame
			up.set( 0, l.sprite.scale.y, 0 ).applyMatrix4( camera.matrixWorld ).sub( camera.position ).add( p );
			const h = Math.abs( viewport.project( up, pane ).y - y ), w = h * l.sprite.scale.x / l.sprite.scale.y, gx = GAP * h / w;
			const beside = [ [ 0.5, - GAP ], [ - gx, 0.5 ], [ 1 + gx, 0.5 ], [ 0.5, 1 + GAP ] ];
			const further = [ [ 0.5, - 1 - GAP ], [ 0.5, 2 + GAP ] ]; // a start or end: a label's height further up or down
			const places = [ ...beside, ...( l.end ? further : [] ) ].map( ( [ cx, cy ] ) => ( {
				centre: [ cx, cy ], box: [ x - cx * w, y - ( 1 - cy ) * h, x + ( 1 - cx ) * w, y + cy * h ],
			} ) );
			const clear = places.filter( ( { box } ) => ! placed.some( ( b ) => hits( box, b ) ) );
			const free = clear.find( ( { box } ) => ! dots.some( ( d ) => ( d.o !== l.o || d.i !== l.i ) && hits( box, [ d.x - DOT_PX, d.y - DOT_PX, d.x + DOT_PX, d.y + DOT_PX ] ) ) );
			const at = free || ( l.end ? clear[ 0 ] || places[ 0 ] : null ); // a start or end over a checkpoint rather than over a label
			l.sprite.visible = Boolean( at );
			if ( at ) {

				l.sprite.center.set( ...at.centre );
				placed.push( at.box );

			}

			const box = ( at || places[ 0 ] ).box;
			result.push( { id: l.o.path.id, i: l.i, text: l.text, visible: Boolean( at ), left: box[ 0 ], top: box[ 1 ], right: box[ 2 ], bottom: box[ 3 ] } );

		}

	}

	return result;

}

/** One path in 3-D: a polyline at each checkpoint's own value on the z scale, drawn over the surfaces
 * (never hidden by them), a marker per checkpoint, the start and end marked, epoch labels. */
export class PathObject {

	constructor( path, frame, zscale ) {

		this.path = path;
		this.group = new THREE.Group();
		this.group.name = `path:${ path.id }`;
		this.positions = path.t.x.map( ( x, i ) => {

			const z = zscale.normalize( path.values[ i ] );
			if ( ! Number.isFinite( x ) || ! Number.isFinite( path.t.y[ i ] ) || ! Number.isFinite( z ) ) return null;
			return new THREE.Vector3( frame.sx( x ), frame.sy( path.t.y[ i ] ), z * Z_HEIGHT );

		} );
		const onTop = { depthTest: false, depthWrite: false, transparent: true };
		const color = new THREE.Color( path.color );
		const line = this.positions.filter( Boolean ).flatMap( ( p ) => p.toArray() );
		const geometry = new THREE.BufferGeometry();
		geometry.setAttribute( 'position', new THREE.Float32BufferAttribute( line, 3 ) );
		this._add( new THREE.Line( geometry, new THREE.LineBasicMaterial( { color: 0xffffff, ...onTop } ) ) );
		const dot = new THREE.SphereGeometry( 0.016, 12, 8 );
		const start = new THREE.BoxGeometry( 0.045, 0.045, 0.045 );
		const end = new THREE.SphereGeometry( 0.03, 16, 12 );
		this._geometries = [ dot, start, end ];
		const label = labelled( this.positions.length );
		this.labels = []; // [{i, text, end, sprite}]: placed for each frame's camera (placeLabels3d)
		this.positions.forEach( ( p, i ) => {

			if ( ! p ) return;
			const last = i === this.positions.length - 1;
			const marker = new THREE.Mesh( i === 0 ? start : last ? end : dot, new THREE.MeshBasicMaterial( { color: i === 0 || last ? 0xffffff : color, ...onTop } ) );
			marker.position.copy( p );
			this._add( marker );
			if ( label( i ) ) {

				const text = i === 0 ? `start ${ pointLabel( path, i ) }` : last ? `end ${ pointLabel( path, i ) }` : pointLabel( path, i );
				const sprite = textSprite( text, { height: 0.055, color: path.color, weight: 700, background: 'rgba(8,10,16,0.85)' } ); // readable over a surface of its colour
				sprite.material.depthTest = false;
				sprite.position.copy( p ); // its centre (anchor) puts it beside the point
				this._add( sprite );
				this.labels.push( { i, text, end: i === 0 || last, sprite } );

			}

		} );

	}

	_add( object ) {

		object.renderOrder = 10;
		this.group.add( object );

	}

	dispose() {

		for ( const child of this.group.children ) {

			if ( child.material.map ) child.material.map.dispose();
			child.material.dispose();
			if ( ! this._geometries.includes( child.geometry ) && ! child.isSprite ) child.geometry.dispose();

		}

		for ( const g of this._geometries ) g.dispose();
		this.group.removeFromParent();

	}

}
