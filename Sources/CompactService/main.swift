import ArgumentParser
import MMCore

CompactServiceCommand.main()
