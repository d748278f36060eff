// The lead merges this under the real svx-load root command.
CryptoBenchCommand.main()
