// The one z scale every view shares: range over all overlaid surfaces, optional log10, optional clip
// at vmax. Overlays are only a fair comparison when they are drawn against the same scale.

/** About ``n`` round numbers covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps). */
export function niceTicks( lo, hi, n = 6 ) {

	if ( ! ( Number.isFinite( lo ) && Number.isFinite( hi ) ) ) return [];
	if ( hi === lo ) return [ lo ];
	const raw = ( hi - lo ) / Math.max( 1, n - 1 );
	const mag = Math.pow( 10, Math.floor( Math.log10( raw ) ) );
	const count = ( s ) => Math.floor( hi / s + 1e-9 ) - Math.ceil( lo / s - 1e-9 ) + 1;
	let step = 10 * mag; // the round step whose tick count comes closest to n (ties: fewer ticks)
	for ( const s of [ 10, 5, 2.5, 2, 1 ].map( ( m ) => m * mag ) ) if ( Math.abs( count( s ) - n ) < Math.abs( count( step ) - n ) ) step = s;
	const ticks = [];
	for ( let v = Math.ceil( lo / step - 1e-9 ) * step; v <= hi + step * 1e-9; v += step ) {

		ticks.push( Math.abs( v ) < step * 1e-9 ? 0 : v );

	}

	return ticks;

}

/** Short, exact-enough text for a number on an axis or in a tooltip. */
export function formatNumber( v, digits = 4 ) {

	if ( v === null || v === undefined || Number.isNaN( v ) ) return '—';
	if ( ! Number.isFinite( v ) ) return v > 0 ? '∞' : '−∞';
	if ( v === 0 ) return '0';
	const a = Math.abs( v );
	if ( a >= 1e5 || a < 1e-3 ) return v.toExponential( digits - 1 ).replace( /\.?0+e/, 'e' );
	return String( Number( v.toPrecision( digits ) ) );

}

/** Whether a metric is an accuracy: surface files store those in percent (100 * correct / samples,
 * as the reference code does). */
export const isAccuracy = ( metric ) => /acc/.test( metric || '' );

/** The unit of ``metric``'s values: '%' for accuracies, 'pp' (percentage points) for a difference
 * of accuracies (A − B of 80 % and 75 % is 5 pp, not 5 %), '' for the rest. */
export const metricUnit = ( metric, difference = false ) => ( isAccuracy( metric ) ? ( difference ? 'pp' : '%' ) : '' );

/** A value of ``metric`` as shown in the tooltip and the panels, with its unit (metricUnit). */
export function formatMetric( metric, v, digits = 6, difference = false ) {

	const text = formatNumber( v, digits ), unit = metricUnit( metric, difference );
	return unit && Number.isFinite( v ) ? `${ text } ${ unit }` : text;

}

/** Labels of tick values with as few digits as keep neighbours apart (a narrow range 2.332 … 2.338
 * needs four digits where 3 would print 2.33, 2.33, 2.34). */
export function tickLabels( values, digits = 3 ) {

	for ( let d = digits; d <= 12; d ++ ) {

		const labels = values.map( ( v ) => formatNumber( v, d ) );
		if ( labels.every( ( label, i ) => i === 0 || label !== labels[ i - 1 ] ) ) return labels;

	}

	return values.map( ( v ) => String( v ) );

}

export class ZScale {

	/**
	 * @param {Iterable<Float64Array|number[]>} arrays raw values of all overlaid surfaces (NaN = none)
	 * @param {{log: boolean, vmax: number|null}} options
	 */
	constructor( arrays, { log = false, vmax = null } = {} ) {

		let min = Infinity, max = - Infinity, minPositive = Infinity;
		for ( const values of arrays ) {

			for ( const v of values ) {

				if ( ! Number.isFinite( v ) ) continue;
				if ( v < min ) min = v;
				if ( v > max ) max = v;
				if ( v > 0 && v < minPositive ) minPositive = v;

			}

		}

		this.log = Boolean( log );
		this.dataMin = Number.isFinite( min ) ? min : null;
		this.dataMax = Number.isFinite( max ) ? max : null;
		this.vmax = Number.isFinite( vmax ) ? vmax : null;
		const hi = this.vmax !== null && this.dataMax !== null ? Math.min( this.vmax, this.dataMax ) : this.dataMax;
		const lo = this.log ? ( Number.isFinite( minPositive ) ? minPositive : null ) : this.dataMin;
		/** Raw values at the bottom and top of the scale. */
		this.min = lo;
		this.max = hi;
		this.empty = lo === null || hi === null || hi < lo;
		this.d0 = this.empty ? 0 : this._forward( lo );
		this.d1 = this.empty ? 1 : this._forward( hi );
		if ( ! ( this.d1 > this.d0 ) ) {

			const pad = this.empty ? 0.5 : Math.abs( this.d0 ) * 0.05 || 0.5;
			this.d0 -= pad;
			this.d1 += pad;

		}

	}

	_forward( v ) {

		return this.log ? Math.log10( v ) : v;

	}

	/** Raw value -> position in [0, 1] on the scale (clipped at vmax); NaN where not drawable. */
	normalize( v ) {

		if ( v === null || ! Number.isFinite( v ) || ( this.log && v <= 0 ) ) return NaN;
		if ( this.max !== null && v > this.max ) v = this.max;
		return ( this._forward( v ) - this.d0 ) / ( this.d1 - this.d0 );

	}

	/** True where ``v`` lies above vmax and is drawn flattened. */
	clipped( v ) {

		return this.vmax !== null && Number.isFinite( v ) && v > this.vmax;

	}

	/** Position in [0, 1] -> raw value. */
	invert( t ) {

		const d = this.d0 + t * ( this.d1 - this.d0 );
		return this.log ? Math.pow( 10, d ) : d;

	}

	/** Labelled ticks: [{value, t, label}]. Log scales tick decades, or 1-2-5 steps within one. */
	ticks( n = 6 ) {

		let values;
		if ( this.log && this.d1 - this.d0 >= 1.5 ) {

			const decades = niceTicks( Math.ceil( this.d0 ), Math.floor( this.d1 ), n ).filter( Number.isInteger );
			const steps = this.d1 - this.d0 < 3 ? [ 1, 2, 5 ] : [ 1 ]; // few decades: 1-2-5 within each
			values = [ Math.floor( this.d0 ), ...decades ].flatMap( ( e ) => steps.map( ( m ) => m * Math.pow( 10, e ) ) );
			values = [ ...new Set( values ) ].filter( ( v ) => v >= this.invert( 0 ) * ( 1 - 1e-9 ) && v <= this.invert( 1 ) * ( 1 + 1e-9 ) );

		} else {

			values = this.log ? this._logTicks( n ) : [];
			if ( values.length < 3 ) values = niceTicks( this.invert( 0 ), this.invert( 1 ), n );

		}

		values = values.filter( ( value ) => {

			const t = this.normalize( value );
			return t >= - 1e-6 && t <= 1 + 1e-6;

		} );
		const labels = tickLabels( values );
		return values.map( ( value, i ) => ( { value, t: this.normalize( value ), label: labels[ i ] } ) );

	}

	/** Ticks of a log scale under 1.5 decades: the roundest mantissas first (1, then 2 and 5, then 3,
	 * then 1.5, 2.5, 4, 6, 7, 8, 9), each kept where it stands at least 0.6 / (n − 1) of the axis from
	 * those kept, so both ends get a label (0.53 … 3.6 reads 0.6, 1, 2, 3, not 1, 1.5 … 3.5 squeezed
	 * into the top two thirds) without crowding. */
	_logTicks( n ) {

		const rank = [ [ 1, 0 ], [ 2, 1 ], [ 5, 1 ], [ 3, 2 ], [ 1.5, 3 ], [ 2.5, 3 ], [ 4, 3 ], [ 6, 3 ], [ 7, 3 ], [ 8, 3 ], [ 9, 3 ] ];
		const candidates = [];
		for ( let e = Math.floor( this.d0 ); e <= Math.floor( this.d1 ); e ++ ) {

			for ( const [ m, r ] of rank ) {

				const value = e < 0 ? m / Math.pow( 10, - e ) : m * Math.pow( 10, e ), t = ( Math.log10( value ) - this.d0 ) / ( this.d1 - this.d0 );
				if ( t >= - 1e-6 && t <= 1 + 1e-6 ) candidates.push( { value, t, r } );

			}

		}

		const gap = 0.6 / Math.max( 1, n - 1 ), kept = [];
		candidates.sort( ( a, b ) => a.r - b.r );
		for ( const c of candidates ) if ( kept.every( ( k ) => Math.abs( k.t - c.t ) >= gap - 1e-9 ) ) kept.push( c );
		return kept.map( ( k ) => k.value ).sort( ( a, b ) => a - b );

	}

	/** Raw values for contour lines: round steps, 1-2-5 per decade on a log scale. */
	contourLevels( n = 12 ) {

		if ( this.empty ) return [];
		let values;
		if ( this.log ) {

			values = [];
			for ( let e = Math.floor( this.d0 ); e <= Math.ceil( this.d1 ); e ++ ) {

				for ( const m of [ 1, 2, 5 ] ) values.push( m * Math.pow( 10, e ) );

			}

			if ( this.d1 - this.d0 < 0.7 ) values = niceTicks( this.min, this.max, n );

		} else {

			values = niceTicks( this.min, this.max, n );

		}

		return values.filter( ( v ) => v > this.min && v < this.max );

	}

	describe() {

		return { min: this.min, max: this.max, data_min: this.dataMin, data_max: this.dataMax, scale: this.log ? 'log' : 'linear', vmax: this.vmax };

	}

}

/** Height of the z scale in scene units; x and y share one scale spanning [-1, 1]. */
export const Z_HEIGHT = 1.1;

/** The x-y extent shared by all overlaid surfaces, with equal aspect (both axes are step sizes). */
export class XYFrame {

	/** @param {Array<{x: number[], y: number[], ndim: number}>} grids
	 * @param {{stretch?: boolean}} options stretch: each axis fills the square on its own (a PCA plane,
	 * whose second component often spans a few percent of the first); else one scale for both */
	constructor( grids, { stretch = false } = {} ) {

		const xs = grids.flatMap( ( g ) => [ g.x[ 0 ], g.x[ g.x.length - 1 ] ] );
		const ys = grids.filter( ( g ) => g.ndim === 2 ).flatMap( ( g ) => [ g.y[ 0 ], g.y[ g.y.length - 1 ] ] );
		this.x0 = xs.length ? Math.min( ...xs ) : - 1;
		this.x1 = xs.length ? Math.max( ...xs ) : 1;
		this.y0 = ys.length ? Math.min( ...ys ) : 0;
		this.y1 = ys.length ? Math.max( ...ys ) : 0;
		this.has2d = ys.length > 0;
		this.span = Math.max( this.x1 - this.x0, this.y1 - this.y0 ) || 1;
		this.stretch = stretch && this.has2d;
		this.spanX = this.stretch ? this.x1 - this.x0 || 1 : this.span;
		this.spanY = this.stretch ? this.y1 - this.y0 || 1 : this.span;

	}

	sx( x ) {

		return ( ( x - ( this.x0 + this.x1 ) / 2 ) / this.spanX ) * 2;

	}

	sy( y ) {

		return ( ( y - ( this.y0 + this.y1 ) / 2 ) / this.spanY ) * 2;

	}

}
