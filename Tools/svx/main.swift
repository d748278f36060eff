// svx: the command line. Commands live in their own files; the root is SVXCommand.swift.
await SVXCommand.main()
