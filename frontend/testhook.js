// window.__lossatlas: a small, read-only window into the viewer for browser tests and scripts.
// Tests assert on what is drawn (ids, vertex counts, material flags, z scale) and hover real grid
// vertices through vertexScreen(), instead of comparing pixels.

import { Vector3 } from 'three';
import { Z_HEIGHT } from './scale.js';
import { SurfaceMesh } from './surface-mesh.js';

/** A text sprite's height on the screen in CSS pixels and its box in client coordinates (in the
 * first pane; the text's canvas, a little wider than the text). */
function labelPixels( viewport, sprite ) {

	const up = new Vector3().setFromMatrixColumn( viewport.camera.matrixWorld, 1 ).multiplyScalar( sprite.scale.y );
	const a = viewport.project( sprite.position ), b = viewport.project( sprite.position.clone().add( up ) );
	const height = Math.hypot( b.x - a.x, b.y - a.y ), width = height * sprite.scale.x / sprite.scale.y;
	return { height, box: { left: a.x - width / 2, right: a.x + width / 2, top: a.y - height / 2, bottom: a.y + height / 2 } };

}

/** Client position of grid point (ix, iy) of surface ``id`` in the current view (``visible``: not
 * hidden behind another part of a surface), or null when it is not drawn. */
function vertexScreen( app, id, ix, iy ) {

	if ( app.state.view === '3d' ) {

		const mesh = app.meshes.find( ( m ) => m.grid.id === id );
		const world = mesh ? mesh.vertexPosition( ix, iy ) : null;
		if ( ! world ) return null;
		const exact = app.viewport.project( world, mesh.object.userData.pane ?? 0 );
		const at = { x: Math.round( exact.x ), y: Math.round( exact.y ) }; // where a mouse can point
		const hit = app.viewport.pick( at.x, at.y ); // the vertex may hide behind a nearer part of a surface
		const seen = hit && hit.object === mesh.object ? mesh.gridIndexOf( hit ) : null;
		return { ...at, visible: Boolean( seen && seen.ix === ix && seen.iy === iy ) };

	}

	if ( app.state.view === 'map' ) return app.mapView.project( id, ix, iy );
	const layer = app.shown.find( ( l ) => l.id === id );
	if ( ! layer ) return null;
	if ( layer.grid.ndim === 1 ) return app.lineView.project( id, ix );
	return app.lineView.project( id, app.state.slice === 'x' ? ix : iy );

}

/** Client position of checkpoint ``i`` of surface ``id``'s path in the current view, or null. */
function checkpointScreen( app, id, i ) {

	if ( app.state.view === '3d' ) {

		const k = app.paths.findIndex( ( p ) => p.id === id );
		const world = k >= 0 ? app.pathObjects[ k ].positions[ i ] : null;
		if ( ! world ) return null;
		const exact = app.viewport.project( world, app.pathObjects[ k ].group.userData.pane ?? 0 );
		return { x: Math.round( exact.x ), y: Math.round( exact.y ) };

	}

	return app.state.view === 'map' ? app.mapView.checkpointScreen( id, i ) : null;

}

export function installTestHook( app ) {

	window.__lossatlas = Object.freeze( {
		/** True once the selected surfaces are loaded and drawn (false while fetching). */
		get ready() {

			return app.ready;

		},
		/** What is drawn now. */
		state() {

			const z = app.zscale ? app.zscale.describe() : null;
			const layers = app.meshes.map( ( m ) => {

				const pos = m.geometry.attributes.position;
				let lo = Infinity, hi = - Infinity;
				for ( let k = 0; k < pos.count; k ++ ) {

					if ( ! m.valid[ k ] ) continue;
					lo = Math.min( lo, pos.getZ( k ) );
					hi = Math.max( hi, pos.getZ( k ) );

				}

				const layer = app.shown.find( ( l ) => l.grid === m.grid );
				return { ...m.info(), pane: m.object.userData.pane ?? null, z_geometry: Number.isFinite( lo ) ? [ lo, hi ] : null, name: layer?.name, color: layer?.color };

			} );
			return {
				view: app.state.view, metric: app.state.metric, ids: [ ...app.state.ids ], wireframe: app.state.wireframe, cmap: app.state.cmap,
				z, layers, errors: [ ...app.status.errors ], notes: [ ...app.status.notes ], hover: app.hover.hover,
				memory: app.viewport.memory(), panes: app.viewport.panes, meshes_built: SurfaceMesh.built, camera: app.viewport.getCamera(),
				labels: app.axes.group.children.filter( ( c ) => c.isSprite ).map( ( c ) => ( {
					depth_test: c.material.depthTest, role: c.userData.role, text: c.userData.text, hidden: app.viewport.occluded( c.position ),
					height_px: labelPixels( app.viewport, c ).height, box: labelPixels( app.viewport, c ).box,
				} ) ),
				axis_names: app.names ? { x: app.names.x, y: app.names.y } : null,
				paths: app.paths.map( ( p, k ) => ( {
					id: p.id, color: p.color, plane: p.planeKey, checkpoints: p.t.x.length,
					drawn_3d: app.pathObjects[ k ].positions.filter( Boolean ).length,
					heights: app.pathObjects[ k ].positions.map( ( w ) => ( w ? w.z / Z_HEIGHT : null ) ),
				} ) ),
			};

		},
		/** The panes' rectangles in client coordinates ({i, left, top, width, height}); [] without panes. */
		paneRects() {

			const n = app.viewport.panes;
			return n > 1 ? Array.from( { length: n }, ( _, i ) => app.viewport.paneRect( i ) ) : [];

		},
		/** Client coordinates of grid point (ix, iy) of surface ``id`` in the current view, or null. */
		vertexScreen( id, ix, iy ) {

			return vertexScreen( app, id, ix, iy );

		},
		/** Client coordinates of checkpoint ``i`` of surface ``id``'s training path in the current view, or null. */
		checkpointScreen( id, i ) {

			return checkpointScreen( app, id, i );

		},
		/** Grid point (ix, iy) of surface ``id`` as drawn in 3-D: {drawn, height} with height in [0, 1]
		 * (the vertex's z over the z axis' height), or null when the surface is not drawn. */
		vertex( id, ix, iy ) {

			const mesh = app.meshes.find( ( m ) => m.grid.id === id );
			if ( ! mesh ) return null;
			const world = mesh.vertexPosition( ix, iy );
			return { drawn: Boolean( world ), height: world ? world.z / Z_HEIGHT : null };

		},
		/** The plot rectangle of the contour map or the 1-D view, whichever is shown, in client
		 * coordinates ({left, top, right, bottom}; the 1-D view's adds its legend's box); null in 3-D. */
		plotRect() {

			if ( app.state.view === '1d' ) return { ...app.lineView.plot.rect(), legend: app.lineView.legendRect() };
			return app.state.view === 'map' ? app.mapView.plot.rect() : null;

		},
		/** The axes of the contour map or the 1-D view as drawn: {x, y: their names, xticks: [{value,
		 * text, left, right}] with left and right in client coordinates, note: the 1-D view's or the map's
		 * note's lines}; null in 3-D. */
		flatAxes() {

			const plot = app.state.view === '1d' ? app.lineView.plot : app.state.view === 'map' ? app.mapView.plot : null;
			if ( ! plot ) return null;
			const x0 = plot.canvas.getBoundingClientRect().left;
			const note = app.state.view === '1d' ? app.lineView.noteLines : app.mapView.noteLines;
			return { ...plot.names, note, xticks: plot.xLabels.map( ( l ) => ( { ...l, left: x0 + l.left, right: x0 + l.right } ) ) };

		},
		/** The points marked as NaN in the contour map (hatched) or the 1-D view (a cross on the x axis):
		 * [{id, ix, iy, x, y}] with (x, y) the mark's centre in client coordinates ([] in 3-D). */
		gaps() {

			if ( app.state.view === 'map' ) return app.mapView.gaps.map( ( g ) => ( { ...g, ...app.mapView.project( g.id, g.ix, g.iy ) } ) );
			if ( app.state.view !== '1d' ) return [];
			return app.lineView.gapMarks.map( ( { id, i, x, y } ) => ( { id, ...app.lineView.curves.find( ( c ) => c.id === id ).toGrid( i ), ...app.lineView.plot.client( x, y ) } ) );

		},
		/** The training paths' checkpoint labels on the contour map as drawn: [{id, i, text, left, top,
		 * right, bottom}] in client coordinates ([] in the other views). */
		pathLabels() {

			if ( app.state.view !== 'map' ) return [];
			return app.mapView.pathPoints.flatMap( ( { id, labels } ) => labels.map( ( { i, text, box: [ x, y, w, h ] } ) => {

				const a = app.mapView.plot.client( x, y );
				return { id, i, text, left: a.x, top: a.y, right: a.x + w, bottom: a.y + h };

			} ) );

		},
		/** The training paths' checkpoint labels in 3-D as placed for the last frame: [{id, i, text,
		 * visible, left, top, right, bottom}] in client coordinates ([] in the other views). */
		pathLabels3d() {

			return app.state.view === '3d' ? app.pathLabels3d : [];

		},
		/** A 3-D checkpoint label's own picture (its sprite's canvas): {width, height, rgba} (bytes, row by row). */
		pathLabelPixels( id, i ) {

			const k = app.paths.findIndex( ( p ) => p.id === id );
			const label = k >= 0 && app.pathObjects[ k ].labels.find( ( l ) => l.i === i );
			if ( ! label ) return null;
			const canvas = label.sprite.material.map.image;
			return { width: canvas.width, height: canvas.height, rgba: [ ...canvas.getContext( '2d' ).getImageData( 0, 0, canvas.width, canvas.height ).data ] };

		},
		/** Contour lines of the map view as drawn: [{id, level, lines: [[[fx, fy], ...]], labels}] with
		 * (fx, fy) fractional grid indices; [] in the other views. */
		contours() {

			return app.state.view === 'map' ? app.mapView.contours : [];

		},
		/** The eigenvalue ratio draped as colour: {scale, ticks, tint: {id: [t per vertex]}}, or null. */
		drape() {

			const d = app.drape;
			if ( ! d ) return null;
			const tint = Object.fromEntries( app.meshes.filter( ( m ) => m.style.tint ).map( ( m ) => [ m.grid.id, Array.from( m.style.tint ) ] ) );
			return { scale: d.scale.describe(), d0: d.scale.d0, d1: d.scale.d1, ticks: d.scale.ticks( 7 ), tint, cmap: app.meshes[ 0 ]?.style.cmap };

		},
		/** Vertex colour (linear RGB, as drawn) of grid point (ix, iy) of surface ``id``. */
		vertexColor( id, ix, iy ) {

			const mesh = app.meshes.find( ( m ) => m.grid.id === id );
			if ( ! mesh ) return null;
			const c = mesh.geometry.attributes.color, k = iy * mesh.grid.nx + ix;
			return [ c.getX( k ), c.getY( k ), c.getZ( k ) ];

		},
		/** The colour bar's ticks: [{value, t, label}]. */
		ticks() {

			return app.zscale && ! app.zscale.empty ? app.zscale.ticks( 7 ) : [];

		},
		/** Position of the z value ``v`` on the current scale, in [0, 1] (NaN where not drawable). */
		normalize( v ) {

			return app.zscale ? app.zscale.normalize( v ) : NaN;

		},
	} );

}
