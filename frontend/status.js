// The status line at the bottom of the view and the error banner at its top, under the title (it
// covered the title's lines; the title grows with warnings and wraps when narrow). Every message the page
// shows the user goes through here; ``errors`` keeps them for the test hook. An error stays until
// closed; a notice (the page did something other than asked) also goes when the user touches the view.

import { $ } from './dom.js';

export class StatusLine {

	constructor() {

		this.errors = [];
		this.notes = []; // non-fatal notices (a URL value that was replaced, ...)
		this._timer = null;
		this._banner = null; // what the banner shows: 'error' or 'notice'
		$( 'error' ).querySelector( 'button' ).addEventListener( 'click', () => this.clearError() );
		// on a phone the banner covers part of the plot: a notice has been read once the plot is used
		$( 'viewport' ).addEventListener( 'pointerdown', () => this._banner === 'notice' && this.clearError() );
		const title = $( 'title' );
		new ResizeObserver( () => $( 'viewport' ).style.setProperty( '--title-bottom', `${ title.offsetTop + title.offsetHeight }px` ) ).observe( title );

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
		this._banner = 'error';

	}

	/** A notice: shown in the banner like an error, but kept apart (the page works as asked otherwise). */
	notice( message ) {

		this.notes.push( message );
		const el = $( 'error' );
		el.querySelector( '.msg' ).textContent = this.notes.length > 1 ? this.notes.join( ' · ' ) : message;
		el.hidden = false;
		if ( this._banner !== 'error' ) this._banner = 'notice'; // an error shown stays until closed

	}

	clearError() {

		$( 'error' ).hidden = true;
		this._banner = null;

	}

}
