// The viewer's only door to the server: every fetch and EventSource of the page lives here.
// Errors come back as ApiError carrying the server's {"detail": ...} message, so the page can show it.

export class ApiError extends Error {
	/** ``detail``: the server's reason alone (the message names the request too). */
	constructor( message, status, detail = message ) {

		super( message );
		this.name = 'ApiError';
		this.status = status;
		this.detail = detail;

	}
}

/** What to tell the user of a request the server refused (4xx: a limit, an axis, the token): ``what``
 * and the server's reason, not which request failed with which code; other errors as they are. */
export function refusal( error, what ) {

	return error instanceof ApiError && error.status >= 400 && error.status < 500 ? `${ what }: ${ error.detail }` : error;

}

function detailText( detail ) {

	if ( typeof detail === 'string' ) return detail;
	if ( Array.isArray( detail ) ) { // FastAPI validation errors: [{loc, msg}, ...]

		return detail.map( ( d ) => `${ ( d.loc || [] ).slice( 1 ).join( '.' ) || 'request' }: ${ d.msg }` ).join( '; ' );

	}

	return JSON.stringify( detail );

}

/** ``withStatus``: {data, status} (the HTTP status tells a found job from a new one). */
async function request( path, { method = 'GET', body, token, withStatus = false } = {} ) {

	const headers = { Accept: 'application/json' };
	if ( body !== undefined ) headers[ 'Content-Type' ] = 'application/json';
	if ( token ) headers.Authorization = `Bearer ${ token }`;
	let response;
	try {

		response = await fetch( path, { method, headers, body: body === undefined ? undefined : JSON.stringify( body ) } );

	} catch ( e ) {

		throw new ApiError( `cannot reach the server (${ e.message })`, 0 );

	}

	if ( response.status === 204 ) return null;
	const text = await response.text();
	let data = null;
	try {

		data = text ? JSON.parse( text ) : null;

	} catch {

		if ( response.ok ) throw new ApiError( `${ method } ${ path }: the server sent something that is not JSON`, response.status );

	}

	if ( ! response.ok ) {

		const why = data && data.detail !== undefined ? detailText( data.detail ) : ( text.slice( 0, 200 ) || response.statusText );
		throw new ApiError( `${ method } ${ path } failed (${ response.status }): ${ why }`, response.status, why );

	}

	return withStatus ? { data, status: response.status } : data;

}

/** GET /api/config: version, auth_required, limits, models, datasets. */
export const getConfig = () => request( '/api/config' );

/** GET /api/surfaces: the whole catalog (SurfaceSummary list), page after page until next_offset is null. */
export async function listSurfaces() {

	const surfaces = [];
	for ( let offset = 0; ; ) {

		const page = await request( offset ? `/api/surfaces?offset=${ offset }` : '/api/surfaces' );
		surfaces.push( ...page.surfaces );
		if ( ! ( page.next_offset > offset ) ) return surfaces; // null: the last page
		offset = page.next_offset;

	}

}

/** GET /api/surfaces/{id}: the mesh (gzip and ETag revalidation are left to the browser's HTTP cache). */
export const getMesh = ( id ) => request( `/api/surfaces/${ encodeURIComponent( id ) }` );

/** POST /api/jobs: start the job computing a surface (202), or find an identical request's job (200):
 * {job, existing}. */
export async function createJob( job, token ) {

	const { data, status } = await request( '/api/jobs', { method: 'POST', body: job, token, withStatus: true } );
	return { job: data, existing: status === 200 };

}

/** GET /api/jobs/{id}: a job's state and progress. */
export const getJob = ( id ) => request( `/api/jobs/${ encodeURIComponent( id ) }` );

/** GET /api/checkpoints: {uploaded: [{id, model, sha256, name}], gallery: [{id, model, sha256, title, source, test_acc}],
 * runs: [{id, model, title, source, labels, final_sha256, grid}]}. */
export const listCheckpoints = () => request( '/api/checkpoints' );

/** POST /api/checkpoints: upload weights (a state dict file) for a zoo model; returns {id, sha256, model}. */
export async function uploadCheckpoint( file, model, token ) {

	const body = new FormData();
	body.append( 'file', file );
	body.append( 'model', model );
	const headers = { Accept: 'application/json' };
	if ( token ) headers.Authorization = `Bearer ${ token }`;
	let response;
	try {

		response = await fetch( '/api/checkpoints', { method: 'POST', headers, body } );

	} catch ( e ) {

		throw new ApiError( `cannot reach the server (${ e.message })`, 0 );

	}

	const data = await response.json().catch( () => null );
	if ( ! response.ok ) throw new ApiError( `POST /api/checkpoints failed (${ response.status }): ${ data && data.detail !== undefined ? detailText( data.detail ) : response.statusText }`, response.status );
	return data;

}

/** DELETE /api/jobs/{id}: cancel a job. */
export const cancelJob = ( id, token ) => request( `/api/jobs/${ encodeURIComponent( id ) }`, { method: 'DELETE', token } );

/**
 * Follow a job's server-sent events. Handlers: progress(data), state(job), error(message), lost()
 * (the connection broke; the browser retries and events resume when the server is back).
 * Returns a function that closes the stream. The stream ends by itself after a terminal state.
 */
export function followJob( id, { progress, state, error, lost } ) {

	const source = new EventSource( `/api/jobs/${ encodeURIComponent( id ) }/events` );
	let finished = false;
	const parse = ( event ) => {

		try {

			return JSON.parse( event.data );

		} catch {

			error( `job ${ id }: unreadable event from the server` );
			return null;

		}

	};

	source.addEventListener( 'progress', ( event ) => {

		const data = parse( event );
		if ( data ) progress( data );

	} );
	source.addEventListener( 'state', ( event ) => {

		const job = parse( event );
		if ( ! job ) return;
		if ( [ 'done', 'failed', 'cancelled' ].includes( job.state ) ) {

			finished = true;
			source.close();

		}

		state( job );

	} );
	source.onerror = () => {

		if ( finished ) return;
		if ( source.readyState === EventSource.CLOSED ) error( `lost the progress stream of job ${ id }` );
		lost(); // CONNECTING: the browser retries on its own

	};

	return () => {

		finished = true;
		source.close();

	};

}
