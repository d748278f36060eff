// svx: the command line. Commands live in their own files; the root is SVXCommand.swift.
SVXCommand.main()
