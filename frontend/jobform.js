// "New surface": a form that requests a surface from the server (POST /api/jobs), and the list of
// jobs with live progress. Models, datasets, splits, norms and limits come from /api/config; the token field appears only
// when the server requires one. Weights: the model's random initialization (the surface's title says
// "untrained"), the gallery's trained checkpoints and earlier uploads (GET /api/checkpoints), or a
// checkpoint file uploaded through POST /api/checkpoints. Or a gallery training path (a run): the surface
// in the plane of its first two principal components, centred on its final model, with the path drawn.

import { listCheckpoints, refusal } from './api.js';
import { h } from './dom.js';
import { jobTitle } from './livejobs.js';
import { formatNumber } from './scale.js';

/** What a job is doing, in words. */
function doing( job ) {

	if ( job.state === 'queued' ) return 'waiting for a worker';
	if ( job.state === 'lost' ) return `server unreachable (the job was ${ job.was }); retrying`;
	if ( job.state === 'running' && ! job.points_done ) return 'loading the data and the model…';
	return null;

}

const Y_HINT = { line: 'leave empty for a 1-D curve', plane: 'required: a plane' }; // a PCA job's surface is a plane
const AXIS = /^\s*-?\d*\.?\d+(e-?\d+)?\s*:\s*-?\d*\.?\d+(e-?\d+)?\s*:\s*\d+\s*$/i;

function field( label, input, hint ) {

	return h( 'label', {}, h( 'span', {}, label ), input, hint ? h( 'small', { class: 'muted' }, hint ) : null );

}

function select( name, options, value ) {

	return h( 'select', { name }, options.map( ( o ) => h( 'option', { value: o, selected: o === value }, o ) ) );

}

export class JobPanel {

	/**
	 * @param {HTMLFormElement} form
	 * @param {HTMLElement} list where jobs and their progress are shown
	 * @param {object} config the server's /api/config
	 * @param {{submit: (request, token) => Promise<void>, cancel: (id, token) => Promise<void>, show: (surfaceId) => void,
	 *   upload: (file, model, token) => Promise<{id: string}>}} host
	 */
	constructor( form, list, config, host ) {

		this.form = form;
		this.list = list;
		this.host = host;
		this.jobs = new Map();
		const lim = config.limits || {};
		form.replaceChildren( ...[
			field( 'Name', h( 'input', { name: 'name', placeholder: 'optional title' } ) ),
			h( 'div', { class: 'row' },
				field( 'Model', select( 'model', config.models, config.models.includes( 'tinycnn' ) ? 'tinycnn' : config.models[ 0 ] ) ),
				field( 'Dataset', select( 'dataset', config.datasets, config.datasets[ 0 ] ) ) ),
			field( 'Weights', h( 'select', { name: 'weights' } ), 'trained weights, or random init (not a trained net)' ),
			h( 'label', { class: 'checkpoint-file', hidden: true }, h( 'span', {}, 'Checkpoint file' ), h( 'input', { name: 'checkpoint', type: 'file', accept: '.pt,.pth,.t7' } ) ),
			h( 'div', { class: 'row' },
				field( 'Split', select( 'split', config.splits, 'train' ) ),
				field( 'Samples', h( 'input', { name: 'samples', type: 'number', min: '1', max: lim.max_samples ? String( lim.max_samples ) : null, value: '256', placeholder: 'all' } ) ) ),
			// one a line: a training path's grid ("-1.30157:0.882071:51") is too long for half the panel
			field( 'x axis', h( 'input', { name: 'x', value: '-1:1:11', required: true, pattern: AXIS.source } ), 'min:max:num' ),
			field( 'y axis', h( 'input', { name: 'y', value: '-1:1:11', pattern: AXIS.source } ), Y_HINT.line ),
			h( 'div', { class: 'row random-directions' },
				field( 'Normalization', select( 'norm', config.norms, 'filter' ) ),
				field( 'Seed', h( 'input', { name: 'seed', type: 'number', value: '0', step: '1' } ) ) ),
			h( 'p', { class: 'muted small pca-note', hidden: true }, 'Directions: the path\'s first two principal components (x, y in their units; the path is drawn on the surface).' ),
			config.auth_required ? field( 'Token', h( 'input', { name: 'token', type: 'password', autocomplete: 'off', required: true } ) ) : null,
			h( 'p', { class: 'muted small' }, lim.max_points ? `At most ${ lim.max_points } grid points${ lim.max_samples ? ` and ${ lim.max_samples } samples` : '' }.` : '' ),
			h( 'button', { type: 'submit', class: 'primary' }, 'Compute surface' ),
		].filter( Boolean ) );
		this.axes = { x: null, y: null }; // per axis, while a run's grid fills it: {user: the value before, grid: the value written}
		this.checkpoints = { gallery: [], uploaded: [], runs: [] };
		this._weightOptions();
		listCheckpoints().then( ( list ) => {

			this.checkpoints = { runs: [], ...list };
			this._weightOptions();

		}, () => {} ); // an older server without the list: untrained or upload only
		form.elements.model.addEventListener( 'change', () => this._weightOptions() );
		form.elements.weights.addEventListener( 'change', () => this._showFields() );
		form.addEventListener( 'submit', ( event ) => {

			event.preventDefault();
			this._submit();

		} );

	}

	/** The weights a job of the chosen model may use: values "untrained", "gallery:ID", "uploaded:ID", "run:ID", "upload". */
	_weightOptions() {

		const select = this.form.elements.weights;
		const model = this.form.elements.model.value;
		const kept = select.value;
		const option = ( value, label, title ) => h( 'option', { value, title, selected: value === kept }, label );
		const gallery = this.checkpoints.gallery.filter( ( c ) => c.model === model );
		const uploaded = this.checkpoints.uploaded.filter( ( c ) => c.model === model );
		const runs = this.checkpoints.runs.filter( ( r ) => r.model === model );
		select.replaceChildren( ...[
			option( 'untrained', 'random initialization (untrained)' ),
			gallery.length ? h( 'optgroup', { label: 'gallery' }, gallery.map( ( c ) => option( `gallery:${ c.id }`,
				`${ c.title }${ c.test_acc !== null && c.test_acc !== undefined ? ` (test acc ${ c.test_acc }%)` : '' }`, c.source ) ) ) : null,
			uploaded.length ? h( 'optgroup', { label: 'uploaded' }, uploaded.map( ( c ) => option( `uploaded:${ c.id }`,
				c.name ? `${ c.name } (${ c.id.slice( 0, 8 ) })` : c.id.slice( 0, 8 ), c.sha256 ) ) ) : null,
			runs.length ? h( 'optgroup', { label: 'training path: its PCA plane' }, runs.map( ( r ) => option( `run:${ r.id }`,
				`${ r.title } (${ r.labels.length } checkpoints)`, r.source ) ) ) : null,
			option( 'upload', 'upload…' ),
		].filter( Boolean ) );
		this._showFields();

	}

	/** The fields the chosen weights need: a file to upload; random directions' or a path's. */
	_showFields() {

		this.form.querySelector( '.checkpoint-file' ).hidden = ! this._usesFile();
		const pca = this._run() !== null;
		this.form.querySelector( '.random-directions' ).hidden = pca;
		this.form.querySelector( '.pca-note' ).hidden = ! pca;
		this.form.elements.y.required = pca; // a plane
		this.form.elements.y.parentElement.querySelector( 'small' ).textContent = pca ? Y_HINT.plane : Y_HINT.line;
		this._followRun();

	}

	/** x and y take a gallery run's grid (it covers the path: a place to start) and get back what they
	 * held before when other weights are chosen; an axis the user has edited meanwhile keeps the edit. */
	_followRun() {

		const run = this._run();
		const grid = run && run.grid ? run.grid.split( ' x ' ) : null;
		[ 'x', 'y' ].forEach( ( name, k ) => {

			const input = this.form.elements[ name ];
			const filled = this.axes[ name ];
			if ( filled && input.value !== filled.grid ) this.axes[ name ] = null; // edited: the user's value now
			else if ( grid ) {

				this.axes[ name ] = { user: filled ? filled.user : input.value, grid: grid[ k ] || '' };
				input.value = this.axes[ name ].grid;

			} else if ( filled ) {

				input.value = filled.user;
				this.axes[ name ] = null;

			}

		} );

	}

	/** The gallery run chosen as weights, or null. */
	_run() {

		const [ kind, id ] = this.form.elements.weights.value.split( ':' );
		return kind === 'run' ? this.checkpoints.runs.find( ( r ) => r.id === id ) || null : null;

	}

	_usesFile() {

		return this.form.elements.weights.value === 'upload';

	}

	/** The JobRequest of the form's fields (the server validates it again). */
	request( checkpointId = null ) {

		const f = new FormData( this.form );
		const text = ( k ) => String( f.get( k ) || '' ).trim();
		const samples = text( 'samples' );
		const request = {
			model: text( 'model' ), checkpoint_id: checkpointId, dataset: text( 'dataset' ), split: text( 'split' ),
			samples: samples ? Number( samples ) : null, sample_seed: 0, batch_size: 128, loss: 'ce',
			directions: { kind: 'random', seed: Number( text( 'seed' ) || 0 ), norm: text( 'norm' ), ignore: 'biasbn', dir_type: 'weights', same_dir: false },
			x: text( 'x' ), y: text( 'y' ) || null, name: text( 'name' ) || null,
		};
		const [ kind, id ] = text( 'weights' ).split( ':' );
		if ( kind === 'gallery' ) request.gallery_checkpoint = id;
		if ( kind === 'uploaded' ) request.checkpoint_id = id;
		if ( kind === 'run' ) request.directions = { kind: 'pca', run: id, projection: 'cos', ignore: 'biasbn', dir_type: 'weights' };
		request.name = jobTitle( request ); // untrained weights say so in the surface's title
		return request;

	}

	token() {

		return String( new FormData( this.form ).get( 'token' ) || '' ).trim() || null;

	}

	async _submit() {

		const button = this.form.querySelector( 'button[type=submit]' );
		button.disabled = true;
		try {

			let checkpoint = null;
			if ( this._usesFile() ) {

				const file = this.form.elements.checkpoint.files[ 0 ];
				if ( ! file ) throw new Error( 'choose a checkpoint file, or untrained weights' );
				checkpoint = ( await this.host.upload( file, this.form.elements.model.value, this.token() ) ).id;

			}

			await this.host.submit( this.request( checkpoint ), this.token() );

		} catch ( e ) {

			this.host.error( refusal( e, 'Not computed' ) ); // a checkpoint file refused

		} finally {

			button.disabled = false;

		}

	}

	/** Show or refresh a job (a Job object, or progress fields merged into the last one). */
	update( job ) {

		const merged = { ...( this.jobs.get( job.id ) || {} ), ...job };
		this.jobs.set( job.id, merged );
		this.render();

	}

	render() {

		this.list.replaceChildren( ...[ ...this.jobs.values() ].reverse().map( ( job ) => {

			const share = job.points_total ? job.points_done / job.points_total : 0;
			const live = job.state === 'queued' || job.state === 'running' || job.state === 'lost';
			const facts = [
				doing( job ),
				`${ job.points_done ?? 0 } / ${ job.points_total ?? '?' } points`,
				job.rate ? `${ formatNumber( job.rate, 3 ) } pt/s` : null,
				live && job.eta !== null && job.eta !== undefined ? `${ Math.ceil( job.eta ) } s left` : null,
			].filter( Boolean ).join( ' · ' );
			const title = job.request ? jobTitle( job.request ) : job.surface_id;
			return h( 'li', { class: `job ${ job.state }`, dataset: { id: job.id, state: job.state } },
				h( 'div', { class: 'job-head' },
					h( 'button', { type: 'button', class: 'link', title, onclick: () => this.host.show( job.surface_id ) }, title ),
					h( 'span', { class: 'state' }, job.state === 'lost' ? 'unreachable' : job.state ),
					live ? h( 'button', { type: 'button', class: 'remove', title: 'cancel the job', onclick: () => this.host.cancel( job.id, this.token() ) }, '×' ) : null ),
				h( 'progress', { max: '1', value: String( share ) } ),
				h( 'small', { class: 'muted' }, facts ),
				job.error ? h( 'small', { class: 'job-error' }, job.error ) : null,
			);

		} ) );

	}

}
