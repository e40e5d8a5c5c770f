// The dashboard's entry: renders the App into the page.
import { render } from 'preact';
import { App } from './views/App.js';

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
