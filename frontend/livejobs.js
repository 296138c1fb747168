// Jobs started from the page, followed live: the job's surface is shown as soon as its first points
// exist and grows as the server-sent events bring new points; it is reloaded from the server at the
// end. Followed jobs are listed in the URL (state.jobs), so a reload keeps following them. Talks to
// the layer store and the job panel only.

import * as api from './api.js';
import { patchMesh } from './griddata.js';

const TERMINAL = [ 'done', 'failed', 'cancelled' ];

/** The title a job's surface gets: the one asked for, else what it is (untrained weights say so). */
export function jobTitle( request ) {

	if ( request.name ) return request.name;
	const run = request.directions && request.directions.run;
	const weights = run ? `path ${ run }, PCA plane` : request.gallery_checkpoint ? `gallery weights ${ request.gallery_checkpoint }`
		: request.checkpoint_id ? `checkpoint ${ request.checkpoint_id.slice( 0, 8 ) }` : 'untrained (random init)';
	return `${ request.model }, ${ weights }, ${ request.dataset }`;

}

export class LiveJobs {

	/**
	 * @param {import('./layers.js').LayerStore} store
	 * @param {import('./jobform.js').JobPanel} panel the form and job list
	 * @param {import('./status.js').StatusLine} status
	 * @param {() => void} onFollow called when the set of followed jobs changes (the URL lists them)
	 */
	constructor( store, panel, status, onFollow ) {

		this.store = store;
		this.panel = panel;
		this.status = status;
		this.onFollow = onFollow;
		this.streams = new Map(); // job id -> {close, surfaceId}
		this._timer = null;

	}

	/** Ids of the jobs followed now. */
	get jobIds() {

		return [ ...this.streams.keys() ];

	}

	/** Start (or find) a job and show its surface; resolves to the job, or null when refused. An
	 * identical earlier request's job is shown, and the status line says so (the name asked for now
	 * is not its name). */
	async submit( request, token ) {

		let job, existing;
		try {

			( { job, existing } = await api.createJob( request, token ) );

		} catch ( e ) {

			this.status.error( api.refusal( e, 'Not computed' ) );
			return null;

		}

		this.status.clearError();
		this.panel.update( job );
		await this.follow( job );
		if ( existing ) this.status.set( `The same surface was asked for before, as “${ jobTitle( job.request ) }” (${ job.state }): showing it`, 10000 );
		return job;

	}

	async cancel( id, token ) {

		try {

			this.panel.update( await api.cancelJob( id, token ) );

		} catch ( e ) {

			this.status.error( e );

		}

	}

	/** Follow jobs listed in the URL again after a reload (those that ended are only listed). */
	async resume( ids ) {

		for ( const id of ids ) {

			try {

				const job = await api.getJob( id );
				this.panel.update( job );
				if ( ! TERMINAL.includes( job.state ) ) this.follow( job, { show: false } );

			} catch ( e ) {

				this.status.error( e );

			}

		}

	}

	/** Show a job's surface (alone, unless ``show`` is false) and follow its events until the job ends. */
	follow( job, { show = true } = {} ) {

		const id = job.surface_id;
		this.store.jobTitles.set( id, jobTitle( job.request ) );
		if ( ! TERMINAL.includes( job.state ) && ! this.streams.has( job.id ) ) {

			if ( ! job.points_done ) this.store.waiting.add( id );
			this.streams.set( job.id, { surfaceId: id, close: api.followJob( job.id, {
				progress: ( data ) => this._progress( job, data ),
				state: ( next ) => this._state( next ),
				error: ( message ) => this.status.error( message ),
				lost: () => this._lost( job ),
			} ) } );
			this.onFollow();

		}

		return show ? this.store.select( [ id ] ) : Promise.resolve();

	}

	_progress( job, data ) {

		const { points_done, points_total, rate, eta } = data;
		this.panel.update( { id: job.id, state: 'running', points_done, points_total, rate, eta } );
		if ( ! points_done ) return; // no file yet
		const id = job.surface_id;
		if ( this.store.patch( id, ( mesh ) => patchMesh( mesh, data.points || [] ), { quiet: true } ) ) {

			this._throttled( () => this.store.changed( 'data', id ) );

		} else {

			this._throttled( () => this.store.reload( id ) );

		}

	}

	/** The event stream broke (the server stopped or the network went away): the job is not shown as
	 * running any more; the browser keeps retrying and the next event restores it. */
	_lost( job ) {

		const last = this.panel.jobs.get( job.id );
		if ( ! last || last.state === 'lost' ) return;
		this.panel.update( { id: job.id, state: 'lost', was: last.state } );
		this.status.set( 'Lost contact with the server: retrying…' );

	}

	async _state( job ) {

		this.panel.update( job );
		if ( ! TERMINAL.includes( job.state ) ) return;
		this.streams.delete( job.id );
		this.store.waiting.delete( job.surface_id );
		this.onFollow();
		if ( job.state === 'failed' ) this.status.error( `job “${ jobTitle( job.request ) }” failed: ${ job.error || 'no reason given' }` );
		await this.store.refreshCatalog();
		await this.store.reload( job.surface_id );

	}

	/** Run the latest ``fn`` at most every 200 ms: points can come faster than frames are worth drawing. */
	_throttled( fn ) {

		this._next = fn;
		if ( this._timer ) return;
		this._timer = setTimeout( () => {

			this._timer = null;
			this._next();

		}, 200 );

	}

}
