// The top-down view: colour map of one surface with labelled contour lines, or each overlaid
// surface's contours in its own colour. Shares the z scale of the 3-D view; maps pixels to grid points.

import { colorAt } from './colormap.js';
import { contourLines } from './contours.js';
import { INK, PlotCanvas, nearestIndex, wrapWords } from './plot-canvas.js';
import { formatNumber, niceTicks, tickLabels } from './scale.js';
import { drawPathsOnMap, nearestCheckpoint } from './trajectory.js';

const HATCH = '#9aa5b8'; // style.css --muted: the hatching of NaN points

export class MapView {

	constructor( canvas ) {

		this.plot = new PlotCanvas( canvas );
		this.layers = [];
		this.contours = [];
		this.noteLines = []; // the note under the plot as drawn: what the overlaid surfaces' levels are
		this.pathPoints = []; // [{id, points: [[X, Y] | null]}]: the drawn checkpoints, canvas pixels
		this.gaps = []; // the grid points hatched as NaN: [{id, ix, iy}]

	}

	/** @param {{layers: Array<{id, name, grid, style}>, zscale, frame, cmap: string, cursor: ?{id, ix, iy}, names: {x: string, y: string}, paths: Array, pathCursor: ?{id, i}}} view */
	draw( { layers, zscale, frame, cmap, cursor, names, paths = [], pathCursor = null, inset } ) {

		this.layers = layers.filter( ( l ) => l.grid.ndim === 2 );
		const plot = this.plot;
		plot.begin( [ frame.x0, frame.x1 ], [ frame.y0, frame.y1 ], { equalAspect: ! frame.stretch, inset } );
		const ctx = plot.ctx;
		const heat = this.layers.length === 1 ? this.layers[ 0 ] : null;
		this.gaps = [];
		if ( heat ) this._heatmap( heat.grid, zscale, cmap );
		const { levels, note } = heat ? { levels: zscale.contourLevels( 12 ), note: '' } : overlayLevels( this.layers, zscale );
		const levelLabels = tickLabels( levels );
		const boxes = [];
		this.contours = []; // what was drawn, in grid index coordinates (for the test hook)
		for ( const layer of this.layers ) {

			const { grid } = layer;
			const t = grid.display.map( ( v ) => zscale.normalize( v ) );
			const ink = heat ? 'rgba(8,10,16,0.8)' : layer.style.color;
			levels.forEach( ( level, li ) => {

				const gridLines = contourLines( t, grid.nx, grid.ny, zscale.normalize( level ) );
				const lines = gridLines.map( ( line ) => line.map( ( [ fx, fy ] ) => [ plot.px( lerp( grid.x, fx ) ), plot.py( lerp( grid.y, fy ) ) ] ) );
				ctx.strokeStyle = ink;
				ctx.lineWidth = heat ? 1 : 1.4;
				for ( const line of lines ) {

					ctx.beginPath();
					line.forEach( ( [ X, Y ], k ) => ( k ? ctx.lineTo( X, Y ) : ctx.moveTo( X, Y ) ) );
					ctx.stroke();

				}

				const labels = this._labels( lines, levelLabels[ li ], heat ? [ '#0b0e14', 'rgba(240,243,248,0.85)' ] : [ layer.style.color, 'rgba(16,20,27,0.85)' ], boxes );
				this.contours.push( { id: layer.id, level, lines: gridLines, labels } );

			} );

		}

		const xt = plot.xTicks( frame.x0, frame.x1, 6 ), yt = niceTicks( frame.y0, frame.y1, 6 );
		const yl = tickLabels( yt );
		plot.axes( xt, yt.map( ( y, i ) => ( { pos: y, label: yl[ i ] } ) ), names.x, names.y );
		if ( ! this.layers.length ) this._note( 'No 2-D surface selected: use the 1-D view.' );
		ctx.font = '12px system-ui, sans-serif';
		ctx.textAlign = 'left';
		ctx.textBaseline = 'middle';
		ctx.fillStyle = 'rgba(201,209,224,0.7)';
		this.noteLines = note ? wrapWords( ctx, note, plot.canvas.clientWidth - plot.left - 8 ) : []; // a phone: two lines
		this.noteLines.forEach( ( line, k ) => ctx.fillText( line, plot.left, plot.bottom + 48 + 14 * k ) );
		if ( frame.x0 <= 0 && frame.x1 >= 0 && frame.y0 <= 0 && frame.y1 >= 0 ) { // the trained model

			const X = plot.px( 0 ), Y = plot.py( 0 );
			ctx.strokeStyle = '#ffffff';
			ctx.lineWidth = 1.5;
			ctx.beginPath(); ctx.moveTo( X - 6, Y ); ctx.lineTo( X + 6, Y ); ctx.moveTo( X, Y - 6 ); ctx.lineTo( X, Y + 6 ); ctx.stroke();

		}

		this.pathPoints = drawPathsOnMap( plot, paths, { heat: Boolean( heat ) } );
		const onPath = pathCursor && this.pathPoints.find( ( p ) => p.id === pathCursor.id )?.points[ pathCursor.i ];
		if ( onPath ) {

			ctx.strokeStyle = '#ffffff';
			ctx.lineWidth = 2;
			ctx.beginPath(); ctx.arc( onPath[ 0 ], onPath[ 1 ], 12, 0, 2 * Math.PI ); ctx.stroke();

		}

		const at = cursor && this.layers.find( ( l ) => l.id === cursor.id );
		if ( at ) {

			const X = plot.px( at.grid.x[ cursor.ix ] ), Y = plot.py( at.grid.y[ cursor.iy ] );
			ctx.strokeStyle = '#ffffff';
			ctx.lineWidth = 1.5;
			ctx.beginPath(); ctx.arc( X, Y, 5, 0, 2 * Math.PI ); ctx.stroke();

		}

	}

	_heatmap( grid, zscale, cmap ) {

		const { nx, ny } = grid;
		const image = new ImageData( nx, ny );
		for ( let iy = 0; iy < ny; iy ++ ) {

			for ( let ix = 0; ix < nx; ix ++ ) {

				const t = zscale.normalize( grid.display[ iy * nx + ix ] );
				const o = 4 * ( ( ny - 1 - iy ) * nx + ix );
				if ( ! Number.isFinite( t ) ) continue; // gap: transparent
				const [ r, g, b ] = colorAt( cmap, t );
				image.data.set( [ r * 255, g * 255, b * 255, grid.done[ iy * nx + ix ] ? 255 : 150 ], o );

			}

		}

		const tile = document.createElement( 'canvas' );
		tile.width = nx;
		tile.height = ny;
		tile.getContext( '2d' ).putImageData( image, 0, 0 );
		const plot = this.plot, ctx = plot.ctx;
		const hx = ( grid.x[ nx - 1 ] - grid.x[ 0 ] ) / Math.max( 1, nx - 1 ) / 2;
		const hy = ( grid.y[ ny - 1 ] - grid.y[ 0 ] ) / Math.max( 1, ny - 1 ) / 2;
		ctx.save();
		ctx.beginPath();
		ctx.rect( plot.left, plot.top, plot.right - plot.left, plot.bottom - plot.top );
		ctx.clip();
		ctx.imageSmoothingEnabled = true;
		const X0 = plot.px( grid.x[ 0 ] - hx ), Y0 = plot.py( grid.y[ ny - 1 ] + hy );
		ctx.drawImage( tile, X0, Y0, plot.px( grid.x[ nx - 1 ] + hx ) - X0, plot.py( grid.y[ 0 ] - hy ) - Y0 );
		// points done but NaN (or infinite) are hatched: no value there, where the background alone read
		// as outside the grid
		ctx.beginPath();
		for ( let k = 0; k < nx * ny; k ++ ) {

			if ( ! grid.done[ k ] || ! Number.isNaN( grid.values[ k ] ) ) continue;
			const ix = k % nx, iy = Math.floor( k / nx ), X = plot.px( grid.x[ ix ] - hx ), Y = plot.py( grid.y[ iy ] + hy );
			ctx.rect( X, Y, plot.px( grid.x[ ix ] + hx ) - X, plot.py( grid.y[ iy ] - hy ) - Y );
			this.gaps.push( { id: grid.id, ix, iy } );

		}

		ctx.fillStyle = ctx.createPattern( hatch(), 'repeat' );
		ctx.fill();
		ctx.restore();

	}

	/** Level labels along the longer lines, upright, skipping places where they would collide. */
	/** Returns how many labels it placed. */
	_labels( lines, text, [ color, background ], boxes ) {

		let placed = 0;
		const ctx = this.plot.ctx;
		ctx.font = '600 11px system-ui, sans-serif';
		const w = ctx.measureText( text ).width + 6, h = 13;
		for ( const line of lines ) {

			let length = 0;
			for ( let k = 1; k < line.length; k ++ ) length += Math.hypot( line[ k ][ 0 ] - line[ k - 1 ][ 0 ], line[ k ][ 1 ] - line[ k - 1 ][ 1 ] );
			if ( length < 3 * w ) continue;
			const k = Math.max( 1, Math.floor( line.length / 2 ) );
			const [ x0, y0 ] = line[ k - 1 ], [ x1, y1 ] = line[ Math.min( k, line.length - 1 ) ];
			const cx = ( x0 + x1 ) / 2, cy = ( y0 + y1 ) / 2;
			const box = [ cx - w / 2 - 4, cy - h / 2 - 4, cx + w / 2 + 4, cy + h / 2 + 4 ];
			if ( boxes.some( ( b ) => box[ 0 ] < b[ 2 ] && b[ 0 ] < box[ 2 ] && box[ 1 ] < b[ 3 ] && b[ 1 ] < box[ 3 ] ) ) continue;
			boxes.push( box );
			let angle = Math.atan2( y1 - y0, x1 - x0 );
			if ( angle > Math.PI / 2 ) angle -= Math.PI;
			if ( angle < - Math.PI / 2 ) angle += Math.PI;
			ctx.save();
			ctx.translate( cx, cy );
			ctx.rotate( angle );
			ctx.fillStyle = background;
			ctx.fillRect( - w / 2, - h / 2, w, h );
			ctx.fillStyle = color;
			ctx.textAlign = 'center';
			ctx.textBaseline = 'middle';
			ctx.fillText( text, 0, 0.5 );
			ctx.restore();
			placed ++;

		}

		return placed;

	}

	_note( text ) {

		const ctx = this.plot.ctx;
		ctx.fillStyle = INK;
		ctx.font = '14px system-ui, sans-serif';
		ctx.textAlign = 'center';
		ctx.fillText( text, ( this.plot.left + this.plot.right ) / 2, ( this.plot.top + this.plot.bottom ) / 2 );

	}

	/** Grid point under the pointer: {layer, ix, iy} of the first surface covering it, or null. */
	pick( clientX, clientY ) {

		const at = this.plot.dataAt( clientX, clientY );
		if ( ! at ) return null;
		for ( const layer of this.layers ) {

			const { x, y } = layer.grid;
			if ( at.x < x[ 0 ] || at.x > x[ x.length - 1 ] || at.y < y[ 0 ] || at.y > y[ y.length - 1 ] ) continue;
			return { layer, ix: nearestIndex( x, at.x ), iy: nearestIndex( y, at.y ) };

		}

		return null;

	}

	/** The path checkpoint under the pointer: {id, i} or null. */
	checkpointAt( clientX, clientY ) {

		const rect = this.plot.canvas.getBoundingClientRect();
		return nearestCheckpoint( this.pathPoints, clientX - rect.left, clientY - rect.top );

	}

	checkpointScreen( id, i ) {

		const p = this.pathPoints.find( ( d ) => d.id === id )?.points[ i ];
		return p ? this.plot.client( p[ 0 ], p[ 1 ] ) : null;

	}

	project( id, ix, iy ) {

		const layer = this.layers.find( ( l ) => l.id === id );
		return layer ? this.plot.client( this.plot.px( layer.grid.x[ ix ] ), this.plot.py( layer.grid.y[ iy ] ) ) : null;

	}

}

function lerp( coords, f ) {

	const i = Math.min( coords.length - 2, Math.floor( f ) );
	if ( i < 0 ) return coords[ 0 ];
	return coords[ i ] + ( coords[ i + 1 ] - coords[ i ] ) * ( f - i );

}

/** Curves of 1-D surfaces and slices; the y axis is the shared z scale (log and clipping included). */

/**
 * Contour levels shared by overlaid surfaces (each draws every level, so a line of one value is
 * comparable across them), and the note that says which. Linear levels over the whole z range leave
 * the lower surface without a line (ResNet-56 under 10 beside a no-shortcut net reaching 600, levels
 * every 50), so below the lowest surface's top the levels follow that surface's range, and the
 * whole range's coarser steps go on above it.
 */
export function overlayLevels( layers, zscale ) {

	const all = zscale.contourLevels( 12 );
	if ( zscale.empty ) return { levels: all, note: '' };
	const tops = layers.map( ( layer ) => {

		let top = - Infinity;
		for ( const v of layer.grid.display ) if ( Number.isFinite( v ) && v > top ) top = v;
		return Math.min( top, zscale.max );

	} );
	const low = Math.min( ...tops.filter( Number.isFinite ) );
	const fine = zscale.log || ! ( low > zscale.min ) ? [] : niceTicks( zscale.min, low, 10 ).filter( ( v ) => v > zscale.min && v <= low );
	const coarse = fine.length ? all.filter( ( v ) => v > fine[ fine.length - 1 ] ) : all;
	// too few fine levels to matter (the surfaces share their range): the whole range's levels alone
	const levels = fine.length >= 2 && fine.length > all.filter( ( v ) => v <= low ).length + 1 ? [ ...fine, ...coarse ] : all;
	const step = ( values ) => formatNumber( values[ 1 ] - values[ 0 ], 3 );
	let note;
	if ( levels === all ) note = zscale.log && zscale.d1 - zscale.d0 >= 0.7 ? 'contours at 1, 2, 5 × 10ⁿ on every surface' : all.length >= 2 ? `contours every ${ step( all ) } on every surface` : '';
	else {

		const name = layers[ tops.indexOf( low ) ]?.name ?? 'the lowest surface';
		note = `contours on every surface: every ${ step( fine ) } up to ${ formatNumber( low, 3 ) } (${ name }'s range)${ coarse.length >= 2 ? `, then every ${ step( coarse ) }` : '' }`;

	}

	return { levels, note };

}

let hatchTile = null;

/** The tile of the hatching over NaN points: thin light diagonals, 8 px apart. */
function hatch() {

	if ( hatchTile ) return hatchTile;
	hatchTile = document.createElement( 'canvas' );
	hatchTile.width = hatchTile.height = 8;
	const ctx = hatchTile.getContext( '2d' );
	ctx.strokeStyle = HATCH;
	ctx.lineWidth = 1.5;
	ctx.beginPath();
	ctx.moveTo( - 2, 10 ); ctx.lineTo( 10, - 2 ); // the tile's diagonal and its corners': seamless when repeated
	ctx.moveTo( - 2, 2 ); ctx.lineTo( 2, - 2 );
	ctx.moveTo( 6, 10 ); ctx.lineTo( 10, 6 );
	ctx.stroke();
	return hatchTile;

}
