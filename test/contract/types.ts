/**
 * The SDK-client contract suite (test/contract/contract.test.ts) starts every server's real bin and
 * calls every tool through `@modelcontextprotocol/sdk`'s `Client` with its default output-schema
 * validation. Each server supplies one `ContractSuite` in `test/contract/servers/<server>.ts`
 * (default export). A tool without at least one `expect: 'ok'` case fails the suite.
 */

export interface ContractCase {
  /** Tool name as in tools/list. */
  tool: string;
  /** What this case exercises: 'empty result', 'raw mode', 'truncated page', 'not found', ... */
  label: string;
  arguments: Record<string, unknown>;
  /**
   * 'ok': a successful result whose structuredContent the client validates against outputSchema.
   * 'error': an `isError` result (the client must still accept it; the text must name an ERR_ code).
   * Confirm-policy tools are confirmed by the runner (it re-sends the returned token).
   */
  expect: 'ok' | 'error';
  /** Optional extra check on the structured result (throw to fail). */
  check?: (structured: Record<string, unknown> | undefined, text: string) => void;
}

export interface ContractBackend {
  /** Environment for the server's real bin: backend URLs, credentials files, policy file, ... */
  env: Record<string, string>;
  /** Cases, which may use ids or names the fixture created. Run in order, so writes may follow reads. */
  cases: ContractCase[];
  stop(): Promise<void>;
}

export interface ContractSuite {
  /** The server's name as given to defineServer (`docker`, `gitlab`, ...). */
  server: string;
  /** The bin's TypeScript entry, relative to the repository root (`servers/gitlab/src/bin.ts`). */
  bin: string;
  /** Starts the backend (real engine fixture or simulator) and returns what the bin needs. */
  setup(): Promise<ContractBackend>;
}
