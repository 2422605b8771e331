import { Script } from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import { CONSOLE_SCRIPT } from './console-script.js';
import { CONSOLE_STYLE } from './console-style.js';
import { consolePage } from './console-page.js';

describe('the console assets', () => {
  it('the script parses, and calls only this origin (no absolute URL to elsewhere)', () => {
    expect(() => new Script(CONSOLE_SCRIPT)).not.toThrow();
    expect(CONSOLE_SCRIPT).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(CONSOLE_SCRIPT).not.toMatch(/innerHTML|eval\(|new Function/);
  });

  it('the page has no inline script or style and escapes what it embeds', () => {
    const page = consolePage({ clientId: 'console_creditgate', redirectUri: 'http://127.0.0.1/console?a="b"' });
    expect(page).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(page).not.toMatch(/\sstyle=|\son[a-z]+=/);
    expect(page).toContain('content="http://127.0.0.1/console?a=&#34;b&#34;"');
    expect(CONSOLE_STYLE).toContain('.chart');
  });
});
