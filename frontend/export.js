// PNG export: the current view with its surface names and colour bar, composed onto one canvas.

/**
 * @param {{main: HTMLCanvasElement, bar: ?HTMLCanvasElement, names: Array<{name, color}>, caption: string, file: string}} view
 *   ``main`` must hold a fresh frame (read in the same task as it was rendered).
 */
export async function exportPNG( { main, bar, names, caption, file } ) {

	const dpr = window.devicePixelRatio || 1;
	const out = document.createElement( 'canvas' );
	out.width = main.width + ( bar ? bar.width : 0 );
	out.height = main.height;
	const ctx = out.getContext( '2d' );
	ctx.fillStyle = '#10141b';
	ctx.fillRect( 0, 0, out.width, out.height );
	ctx.drawImage( main, 0, 0 );
	if ( bar ) ctx.drawImage( bar, main.width, Math.max( 0, ( out.height - bar.height ) / 2 ) );
	ctx.scale( dpr, dpr );
	ctx.font = '600 14px system-ui, sans-serif';
	ctx.textBaseline = 'top';
	let y = 14;
	for ( const { name, color } of names ) {

		ctx.fillStyle = color;
		ctx.fillRect( 14, y + 3, 10, 10 );
		ctx.fillStyle = '#e5e9f0';
		ctx.fillText( name, 30, y );
		y += 20;

	}

	ctx.font = '12px system-ui, sans-serif';
	ctx.fillStyle = '#9aa5b8';
	ctx.fillText( caption, 14, y + 2 );
	const blob = await new Promise( ( resolve ) => out.toBlob( resolve, 'image/png' ) );
	if ( ! blob ) throw new Error( 'the browser could not encode the PNG' );
	const url = URL.createObjectURL( blob );
	const a = document.createElement( 'a' );
	a.href = url;
	a.download = file;
	document.body.append( a );
	a.click();
	a.remove();
	setTimeout( () => URL.revokeObjectURL( url ), 1000 );

}
