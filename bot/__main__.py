from citebot.bot.cli import main

raise SystemExit(main())
