/**
 * GBNF grammars for constrained decoding. `DATARUS_AGENTIC_GRAMMAR` forces one
 * well-formed agentic turn: a `<step>` with a thought and code, or the final
 * `<stop_analysis>`. Free text cannot contain `<`; code can, except `</`.
 */
export const DATARUS_AGENTIC_GRAMMAR = String.raw`
root        ::= step | stop
step        ::= "<step>\n<thought>" text "</thought>\n<action>python_executor</action>\n<action_input>\n" code "\n</action_input>\n</step>"
stop        ::= "<stop_analysis>\n<thought>" text "</thought>\n<answer>" text "</answer>\n</stop_analysis>"
text        ::= [^<]+
code        ::= codechar+
codechar    ::= [^<] | "<" [^/]
`;
