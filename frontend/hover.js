// What lies under the pointer: the grid point of the surface hit (3-D pick, map or 1-D plot), a
// tooltip with its values read from the data, and every other visible surface's value at the same
// (x, y) (its own grid point there, or bilinear between its neighbours when the grids differ).

import { metricName } from './captions.js';
import { sampleAt } from './compare.js';
import { formatMetric, formatNumber } from './scale.js';
import { checkpointRows, nearestCheckpoint } from './trajectory.js';

export class Hover {

	/** @param {object} view the viewer: state, shown, zscale, meshes, viewport, mapView, lineView, tooltip, drawFlat() */
	constructor( view ) {

		this.view = view;
		this.hover = null; // what the tooltip shows, for the test hook
		this.cursor = null; // {id, ix, iy}: last grid point hovered in 3-D or map (the slice goes through it)
		this.lineCursor = null;
		this.pathCursor = null; // {id, i}: the training-path checkpoint hovered

	}

	/** Listen on the viewport: pointer moves (one pick per frame), leaving, and taps (touch). */
	bind( element ) {

		let queued = null, down = null;
		element.addEventListener( 'pointermove', ( e ) => {

			if ( e.buttons && e.pointerType === 'mouse' ) return this.view.tooltip.hide(); // dragging the camera
			if ( e.pointerType !== 'mouse' ) return; // touch moves the camera; a tap shows the tooltip
			this.view.tooltip.finger = false;
			const first = ! queued;
			queued = e;
			if ( first ) requestAnimationFrame( () => {

				this.at( queued.clientX, queued.clientY, queued.target );
				queued = null;

			} );

		} );
		element.addEventListener( 'pointerdown', ( e ) => ( down = { x: e.clientX, y: e.clientY } ) );
		element.addEventListener( 'pointerup', ( e ) => {

			if ( e.pointerType !== 'mouse' && down && Math.hypot( e.clientX - down.x, e.clientY - down.y ) < 8 ) {

				this.view.tooltip.finger = true;
				this.at( e.clientX, e.clientY, e.target );

			}

			down = null;

		} );
		element.addEventListener( 'pointerleave', ( e ) => e.pointerType === 'mouse' && this.clear() );

	}

	/** Tooltip for whatever grid point lies under (clientX, clientY), from the data. */
	at( clientX, clientY, target ) {

		const v = this.view;
		if ( ! v.shown || ( target && target.closest && target.closest( '.tooltip, .error, .colorbar' ) ) ) return;
		const checkpoint = this._checkpointAt( clientX, clientY );
		if ( checkpoint ) return this.showCheckpoint( checkpoint.id, checkpoint.i, clientX, clientY );
		let hit = null;
		if ( v.state.view === '3d' ) {

			const found = v.viewport.pick( clientX, clientY );
			if ( found ) {

				const mesh = found.object.userData.surface;
				hit = { layer: v.shown.find( ( l ) => l.grid === mesh.grid ), ...mesh.gridIndexOf( found ) };

			}

		} else if ( v.state.view === 'map' ) {

			hit = v.mapView.pick( clientX, clientY );

		} else {

			const found = v.lineView.pick( clientX, clientY );
			if ( found ) {

				hit = { layer: v.shown.find( ( l ) => l.id === found.curve.id ), ...found.curve.toGrid( found.i ) };
				this.lineCursor = { id: found.curve.id, i: found.i };

			}

		}

		if ( ! hit || ! hit.layer ) return this.clear();
		this.show( hit.layer, hit.ix, hit.iy, clientX, clientY );

	}

	/** A training-path checkpoint near the pointer (the paths are drawn over the surfaces): {id, i} or null. */
	_checkpointAt( clientX, clientY ) {

		const v = this.view;
		if ( ! v.paths || ! v.paths.length ) return null;
		if ( v.state.view === 'map' ) return v.mapView.checkpointAt( clientX, clientY );
		if ( v.state.view !== '3d' ) return null;
		const drawn = v.pathObjects.map( ( o ) => ( {
			id: o.path.id,
			points: o.positions.map( ( p ) => {

				if ( ! p ) return null;
				const at = v.viewport.project( p, o.group.userData.pane ?? 0 );
				return [ at.x, at.y ];

			} ),
		} ) );
		return nearestCheckpoint( drawn, clientX, clientY );

	}

	/** Tooltip for checkpoint ``i`` of surface ``id``'s path: its label, epoch, own loss and accuracy. */
	showCheckpoint( id, i, clientX, clientY ) {

		const v = this.view;
		const k = v.paths.findIndex( ( p ) => p.id === id );
		const path = v.paths[ k ], t = path.t;
		v.tooltip.show( clientX, clientY, { title: `${ path.name }: training path`, color: path.color, rows: checkpointRows( path, i, metricName ) } );
		const metrics = Object.fromEntries( Object.entries( t.metrics ).map( ( [ name, values ] ) => [ name, values[ i ] ] ) );
		this.hover = { path: id, i, label: t.labels[ i ], epoch: t.epochs[ i ], x: t.x[ i ], y: t.y[ i ], metrics };
		this.pathCursor = { id, i };
		if ( v.state.view === '3d' ) v.viewport.setMarker( v.pathObjects[ k ].positions[ i ] );
		else v.drawFlat();

	}

	show( layer, ix, iy, clientX, clientY ) {

		const v = this.view;
		this.pathCursor = null;
		const g = layer.grid;
		const { value, done } = g.at( ix, iy );
		const metric = v.state.metric, diff = Boolean( layer.mesh.difference );
		let text = formatMetric( metric, value, 6, diff );
		if ( ! done ) text = `pending (≈ ${ formatMetric( metric, g.display[ iy * g.nx + ix ], 4, diff ) })`;
		else if ( Number.isNaN( value ) ) text = 'NaN or infinite (not drawn)';
		else if ( v.zscale.clipped( value ) ) text += ' (above vmax)';
		const x = g.x[ ix ], y = g.ndim === 2 ? g.y[ iy ] : null;
		const rows = [ [ 'x', 'x', formatNumber( x, 6 ) ] ];
		if ( g.ndim === 2 ) rows.push( [ 'y', 'y', formatNumber( y, 6 ) ] );
		rows.push( [ 'value', metricName( metric ), text ] ); // its unit is on the value: "85 %", "−2 pp"

		for ( const other of Object.keys( layer.mesh.metrics ) ) {

			if ( other === metric ) continue;
			const rowsOf = layer.mesh.metrics[ other ];
			const o = g.ndim === 2 ? rowsOf[ iy ][ ix ] : rowsOf[ ix ];
			const shown = o === null ? 'NaN or infinite' : formatMetric( other, o, 6, diff ); // null: done, not finite
			rows.push( [ other, metricName( other ), done ? shown : 'pending' ] );

		}

		rows.push( [ 'index', 'grid index', g.ndim === 2 ? `ix ${ ix }, iy ${ iy }` : `ix ${ ix }` ] );
		const compare = this._compare( layer, x, y ?? 0 );
		if ( compare.length ) {

			rows.push( [ 'compare', `${ metricName( metric ) } of every surface here`, '' ] );
			for ( const c of compare ) rows.push( [ `at:${ c.id }`, c.name, c.text, c.color ] );

		}

		v.tooltip.show( clientX, clientY, { title: layer.name, color: layer.color, rows } );
		this.hover = { id: layer.id, ix, iy, x, y, value: Number.isNaN( value ) ? null : value, done, compare };
		if ( v.state.view !== '1d' ) {

			this.cursor = { id: layer.id, ix, iy };
			if ( v.state.view === '3d' ) {

				const mesh = v.meshes.find( ( m ) => m.grid === g );
				v.viewport.setMarker( mesh ? mesh.vertexPosition( ix, iy ) : null );

			} else v.drawFlat();

		} else v.drawFlat();

	}

	/** Every shown surface's value at (x, y): [{id, name, color, value, how, text}] (none for one surface). */
	_compare( hovered, x, y ) {

		const shown = this.view.shown;
		if ( shown.length < 2 ) return [];
		return shown.map( ( l ) => {

			const g = l.grid;
			const s = g.ndim === hovered.grid.ndim ? sampleAt( g, g.values, g.done, x, y ) : null;
			let text = 'outside its grid or pending';
			if ( s ) text = Number.isFinite( s.value ) ? `${ formatMetric( this.view.state.metric, s.value, 6, Boolean( l.mesh.difference ) ) }${ s.how === 'bilinear' ? ' (bilinear)' : '' }` : 'NaN or infinite (not drawn)';
			return { id: l.id, name: l.name, color: l.color, value: s && Number.isFinite( s.value ) ? s.value : null, how: s ? s.how : null, text };

		} );

	}

	clear() {

		this.view.tooltip.hide();
		this.hover = null;
		this.pathCursor = null;
		this.view.viewport?.setMarker( null ); // the viewport's first camera change comes while it is built

	}

}
