import { describe, expect, it } from 'vitest';
import { countTerminalControls, stripTerminalControls as strip } from './terminal-text.js';

const E = '\x1b';
const ST = `${E}\\`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left
const ANY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('stripTerminalControls', () => {
  it('leaves text without controls as it is, tabs and line feeds included', () => {
    const text = 'Zoë 東京 🚀 [31m not an escape\ttab\nnext line  ';
    expect(strip(text)).toBe(text);
  });

  it('removes CSI in 7-bit and 8-bit form: colours, truecolour with colons, private modes', () => {
    expect(strip(`${E}[31mred${E}[0m and ${E}[1;32mgreen${E}[m`)).toBe('red and green');
    expect(strip(`${E}[38:2::255:0:0mtrue${E}[0m`)).toBe('true');
    expect(strip(`${E}[>4;2m${E}[<u${E}[=1h${E}[?25lmodes`)).toBe('modes');
    expect(strip('c1\u009b31mred\u009b0m')).toBe('c1red');
  });

  it('removes OSC with its payload, ended by BEL or ST (7-bit and 8-bit): hyperlink URLs and titles', () => {
    expect(strip(`${E}]8;;https://evil.example/${ST}click${E}]8;;${ST} here`)).toBe('click here');
    expect(strip(`${E}]0;window title\x07after`)).toBe('after');
    expect(strip('\u009d8;;https://evil.example/\u009cclick\u009d8;;\u009c')).toBe('click');
  });

  it('removes DCS, SOS, PM and APC with their payload, ended by ST; BEL does not end them', () => {
    expect(strip(`${E}P1$r0m${ST}after DCS`)).toBe('after DCS');
    expect(strip(`${E}_Gf=100,a=T;iVBORw0KGgo=${ST}after APC`)).toBe('after APC');
    expect(strip(`${E}^private${ST}after PM`)).toBe('after PM');
    expect(strip(`${E}Xstart of string${ST}after SOS`)).toBe('after SOS');
    expect(strip(`\u0090dcs payload\x07 still payload\u009cafter`)).toBe('after');
    expect(strip(`\u009fapc payload\u009cafter \u0098sos\u009c\u009epm\u009c.`)).toBe('after .');
  });

  it('ends a control string where a terminal does: another ESC or C1, CAN/SUB, or (unterminated) its line', () => {
    expect(strip(`${E}]8;;https://x/${E}[31mred${E}[0m`)).toBe('red');
    expect(strip(`${E}]0;title\x18shown`)).toBe('shown');
    expect(strip(`${E}Pdcs\u0085shown`)).toBe('shown');
    expect(strip(`${E}]8;;https://evil.example/ never ended\nnext line`)).toBe('\nnext line');
  });

  it('removes other escapes, a lone ESC, C0 controls but tab and LF, DEL and C1 controls', () => {
    expect(strip(`${E}(B${E}=${E}7keep${E}8${E}`)).toBe('keep');
    expect(strip('nul\x00 bell\x07 vt\x0b ff\x0c del\x7f nel\u0085 end\ttab')).toBe('nul bell vt ff del nel end\ttab');
  });

  it('applies carriage returns and backspaces as a terminal does', () => {
    expect(strip('downloading 10%\rdownloading 100%')).toBe('downloading 100%');
    // text written over with blanks is not shown
    expect(strip('hidden instructions\r                   \nok')).toBe(`${' '.repeat(19)}\nok`);
    // a shorter rewrite leaves the end of the longer line visible, as on the screen
    expect(strip('ERROR: disk full\r   ')).toBe('   OR: disk full');
    expect(strip('spin |\b/\b-\bdone')).toBe('spin done');
    expect(strip('windows line\r\nnext\r')).toBe('windows line\nnext');
  });

  it('applies erase in line and cursor moves within the line', () => {
    expect(strip(`${E}]0;title\x07after${E}[2K${E}[1G!`)).toBe('!');
    expect(strip(`Loading...\r${E}[KDone`)).toBe('Done');
    expect(strip(`abcdef${E}[3D${E}[0K!`)).toBe('abc!');
    expect(strip(`secret${E}[1K!`)).toBe('      !');
    expect(strip(`a${E}[3Cb`)).toBe('a   b');
    expect(strip(`\u009b2Kx`)).toBe('x');
  });

  it('bounds cursor moves: a few bytes cannot become a line of megabytes', () => {
    const out = strip(`${`${E}[99999999C.`.repeat(1000)}`);
    expect(out.length).toBeLessThan(2_000);
    expect(out.replaceAll(' ', '')).toBe('.'.repeat(1000));
  });

  it('never leaves a control character, whatever the input, and stays linear', () => {
    const pieces = [
      E,
      '[',
      ']',
      'P',
      '\\',
      '\x07',
      '\r',
      '\b',
      '\u009b',
      '\u009d',
      '\u009c',
      '\u0090',
      'K',
      '1',
      ';',
      'a',
      '\n',
      '\x18',
    ];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      let s = '';
      for (let j = 0; j < 30; j++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        s += pieces[seed % pieces.length];
      }
      expect(strip(s), JSON.stringify(s)).not.toMatch(ANY_CONTROL);
    }
    const t = performance.now();
    strip(`${E}[${'1'.repeat(200_000)}`.repeat(5));
    strip(`${E}]${'x'.repeat(1_000_000)}`);
    strip(`a\r${E}[K`.repeat(100_000));
    expect(performance.now() - t).toBeLessThan(2_000);
  });
});

describe('countTerminalControls', () => {
  it('counts each sequence stripTerminalControls removes once, payloads included', () => {
    // an OSC 52 clipboard write (with its payload), a colour on and off, a title, a bell, a CR rewrite
    const text = '\x1b]52;c;c2VjcmV0\x07red:\x1b[31mX\x1b[0m\x1b]0;title\x1b\\ok\x07\nabc\rxyz\n';
    expect(countTerminalControls(text)).toBe(6);
    expect(strip(text)).toBe('red:Xok\nxyz\n');
  });

  it('plain text and CRLF line ends count nothing', () => {
    expect(countTerminalControls('a\tb\nc')).toBe(0);
    expect(countTerminalControls('line one\r\nline two\r\n')).toBe(0);
  });
});
