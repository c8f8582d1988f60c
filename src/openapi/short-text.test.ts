import { describe, expect, it } from 'vitest';
import { shortText } from './short-text.js';

describe('shortText', () => {
  it('keeps a short one-paragraph text as it is, whitespace collapsed', () => {
    expect(shortText('  The organization name.\n  Not case sensitive. ', 200)).toBe('The organization name. Not case sensitive.');
    expect(shortText('', 200)).toBeUndefined();
    expect(shortText('  \n\n ', 200)).toBeUndefined();
    expect(shortText(42, 200)).toBeUndefined();
  });

  it('keeps the first paragraph only (blank line or HTML paragraph)', () => {
    expect(shortText('Lists repositories.\n\nFor more information, see the docs.', 200)).toBe('Lists repositories.');
    expect(shortText('<p>Retrieves a <code>Review</code> object.</p>\n\n<p>More.</p>', 200)).toBe('Retrieves a Review object.');
    expect(shortText('\n\n<p></p>\n\nSecond paragraph is the first with text.', 200)).toBe('Second paragraph is the first with text.');
  });

  it('drops link targets and formatting tags, keeps other angle brackets', () => {
    expect(shortText('See "[Required Workflows](https://docs.github.com/actions)" and ![logo](x.png).', 200)).toBe('See "Required Workflows" and logo.');
    expect(shortText('Use a <a href="/docs/api/setup_intents">SetupIntent</a>.<br>Then go.', 200)).toBe('Use a SetupIntent. Then go.');
    expect(shortText('The repository as `<owner>/<repo>`.', 200)).toBe('The repository as `<owner>/<repo>`.');
  });

  it('cuts at whole sentences that fit, or at a word with "…" when the first sentence is too long', () => {
    const text = 'First sentence is here. Second one, e.g. with an abbreviation, follows. Third sentence is long enough to overflow the limit.';
    expect(shortText(text, 80)).toBe('First sentence is here. Second one, e.g. with an abbreviation, follows.');
    expect(shortText(text, 30)).toBe('First sentence is here.');
    expect(shortText(text, 200, { firstSentence: true })).toBe('First sentence is here.');
    const long = shortText('word '.repeat(100), 50);
    expect(long).toMatch(/^(word ){5,}word…$/);
    expect(long!.length).toBeLessThanOrEqual(50);
  });

  it('gives the same answer for very long prose as for its first part', () => {
    const para = 'Kubernetes object metadata. '.repeat(400);
    expect(shortText(para, 120)).toBe(shortText(para.slice(0, 1000), 120));
    expect(shortText(`${'x'.repeat(3000)} tail.`, 120)).toMatch(/…$/);
  });
});
