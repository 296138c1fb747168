// The status line at the bottom of the view and the error banner at its top. Every message the page
// shows the user goes through here; ``errors`` keeps them for the test hook.

import { $ } from './dom.js';

export class StatusLine {

	constructor() {

		this.errors = [];
		this.notes = []; // non-fatal notices (a URL value that was replaced, ...)
		this._timer = null;
		$( 'error' ).querySelector( 'button' ).addEventListener( 'click', () => this.clearError() );

	}

	/** Show ``text`` in the status line (null hides it); ``clearAfter`` ms hides it again. */
	set( text, clearAfter ) {

		const el = $( 'status' );
		el.hidden = ! text;
		el.textContent = text || '';
		clearTimeout( this._timer );
		if ( clearAfter ) this._timer = setTimeout( () => ( el.hidden = true ), clearAfter );

	}

	error( error ) {

		const message = error instanceof Error ? error.message : String( error );
		this.errors.push( message );
		const el = $( 'error' );
		el.querySelector( '.msg' ).textContent = message;
		el.hidden = false;

	}

	/** A notice: shown in the banner like an error, but kept apart (the page works as asked otherwise). */
	notice( message ) {

		this.notes.push( message );
		const el = $( 'error' );
		el.querySelector( '.msg' ).textContent = this.notes.length > 1 ? this.notes.join( ' · ' ) : message;
		el.hidden = false;

	}

	clearError() {

		$( 'error' ).hidden = true;

	}

}
