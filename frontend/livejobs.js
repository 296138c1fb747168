// Jobs started from the page, followed live: the job's surface is shown as soon as its first points
// exist and grows as the server-sent events bring new points; it is reloaded from the server at the end.

import * as api from './api.js';
import { patchMesh } from './griddata.js';

const TERMINAL = [ 'done', 'failed', 'cancelled' ];

export class LiveJobs {

	/**
	 * @param {object} app the viewer (layers, state, setIds, redraw, reloadLayer, showError, catalog)
	 * @param {import('./jobform.js').JobPanel} panel the form and job list
	 */
	constructor( app, panel ) {

		this.app = app;
		this.panel = panel;
		this.streams = new Map(); // surface id -> close()
		this._timer = null;

	}

	following( surfaceId ) {

		return this.streams.has( surfaceId );

	}

	async submit( request, token ) {

		let job;
		try {

			job = await api.createJob( request, token );

		} catch ( e ) {

			this.app.showError( e );
			return;

		}

		this.app.clearError();
		this.panel.update( job );
		this.follow( job );

	}

	async cancel( id, token ) {

		try {

			this.panel.update( await api.cancelJob( id, token ) );

		} catch ( e ) {

			this.app.showError( e );

		}

	}

	/** Show a job's surface (alone) and follow its events until the job ends. */
	follow( job ) {

		const id = job.surface_id;
		if ( ! TERMINAL.includes( job.state ) && ! this.streams.has( id ) ) {

			this.streams.set( id, api.followJob( job.id, {
				progress: ( data ) => this._progress( job, data ),
				state: ( next ) => this._state( next ),
				error: ( message ) => this.app.showError( message ),
			} ) );

		}

		this.app.setIds( [ id ] );

	}

	_progress( job, data ) {

		const { points_done, points_total, rate, eta } = data;
		this.panel.update( { id: job.id, state: 'running', points_done, points_total, rate, eta } );
		if ( ! points_done ) return; // no file yet
		const layer = this.app.layers.get( job.surface_id );
		if ( layer ) {

			patchMesh( layer.mesh, data.points || [] );
			this._throttled( () => this.app.redraw() );

		} else {

			this._throttled( () => this.app.reloadLayer( job.surface_id ) );

		}

	}

	async _state( job ) {

		this.panel.update( job );
		if ( ! TERMINAL.includes( job.state ) ) return;
		this.streams.delete( job.surface_id );
		if ( job.state === 'failed' ) this.app.showError( `job ${ job.id } failed: ${ job.error || 'no reason given' }` );
		try {

			this.app.catalog = await api.listSurfaces();
			this.app.renderPresets();

		} catch ( e ) {

			this.app.showError( e );

		}

		await this.app.reloadLayer( job.surface_id );

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
