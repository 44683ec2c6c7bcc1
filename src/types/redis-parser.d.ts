// The part of redis-parser 3 (the RESP parser ioredis uses) that TaskLink calls; the package ships no types.
declare module 'redis-parser' {
  interface ParserOptions {
    returnReply(reply: unknown): void;
    returnError(err: Error): void;
    returnFatalError?(err: Error): void;
    returnBuffers?: boolean;
    stringNumbers?: boolean;
  }
  class Parser {
    constructor(options: ParserOptions);
    execute(data: Buffer): void;
    reset(): void;
    /**
     * State that TaskLink reads (public fields of 3.0.0, pinned): the buffer it is parsing, kept
     * while a reply is incomplete (null once everything given was parsed), and the pieces of a
     * long bulk string that has not arrived whole, with that string's size (0 when none).
     */
    buffer: Buffer | null;
    bufferCache: Buffer[];
    bigStrSize: number;
  }
  export default Parser;
}
